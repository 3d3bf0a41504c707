"""The toolchain base: what every flow (open or vendor) provides to ``build_bitstream``."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from kiln.artifact import TopSources
from kiln.flows._board import Board
from kiln.flows._boards import hw_dir
from kiln.flows._plan import BuildPlan, BuildResult, Step
from kiln.flows._report import BitstreamReport
from kiln.flows._templates import check_hooks, render
from kiln.tools import TOOLS

__all__ = ["Toolchain", "kiln_version"]


def kiln_version() -> str:
    from kiln import __version__

    return __version__


@dataclass(frozen=True)
class Toolchain(ABC):
    """One way from ``kiln_top`` to a bitstream for a board family.

    Subclasses declare ``family`` and what else differs. ``plan()`` is pure: it returns the
    files and steps and runs nothing. ``finish()`` reads a finished build's outputs.

    Attributes:
        board: the board.
        overrides: text for the named hooks of the templates (see ``hooks``).
        seed: placement seed.
    """

    board: Board
    overrides: Mapping[str, str] = field(default_factory=dict)
    seed: int = 1

    family: ClassVar[str]
    hooks: ClassVar[tuple[str, ...]] = ()
    bitstream_name: ClassVar[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", check_hooks(
            self.overrides, self.hooks, f"The {type(self).__name__} toolchain"))

    @abstractmethod
    def plan(self, design: TopSources) -> BuildPlan:
        """The build: files and steps. Runs nothing."""

    @abstractmethod
    def finish(self, design: TopSources, build: BuildResult, plan: BuildPlan) -> BitstreamReport:
        """The report of a finished build in ``build.root``."""

    def build_dir(self, design: TopSources) -> Path:
        return design.artifact / "bitstream" / self.board.name

    # -- helpers shared by the subclasses ------------------------------------------------------
    def render(self, template: str, /, **context: object) -> bytes:
        base = {"kiln_version": kiln_version(), "board_title": self.board.title,
                "device": self.board.device, "hooks": self.overrides}
        return render(template, **{**base, **context}).encode()

    @staticmethod
    def design_files(design: TopSources, hw_files: Sequence[str]) -> list[tuple[str, bytes]]:
        """kiln_top's sources under ``rtl/`` and hand-written ``hw/`` files under ``hw/``."""
        files = [(f"rtl/{name}", text.encode()) for name, text in design.read_sources()]
        for rel in hw_files:
            files.append((f"hw/{Path(rel).name}", (hw_dir() / rel).read_bytes()))
        return files

    def script(self, name: str, steps: Sequence[Step]) -> tuple[str, bytes]:
        """``build.sh``: the steps as a shell script, for running them by hand."""
        rows = [{"what": s.what, "env_var": TOOLS[s.tool].env_var,
                 "command": TOOLS[s.tool].executables[0],
                 "args": " ".join(shlex.quote(a) for a in s.args), "log": s.log}
                for s in steps]
        return "build.sh", self.render("build.sh.j2", name=name, steps=rows)
