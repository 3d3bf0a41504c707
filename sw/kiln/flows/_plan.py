"""A build as a value: the files to write and the tool steps to run (Amaranth's
``build/run.py`` ``BuildPlan``). Making a plan runs nothing; ``digest()`` keys the build cache;
``execute_local()`` writes the files and runs the steps, unless the build directory already
holds the outputs of the same plan built by the same tool versions."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import KilnError
from kiln.tools import Tool, require_tool, run_tool

__all__ = ["BuildPlan", "BuildResult", "Step"]

log = logging.getLogger(__name__)
STAMP = "kiln_build.json"


@dataclass(frozen=True)
class Step:
    """One tool run: ``tool`` (a key of kiln.tools.TOOLS) with ``args``, run in the build
    directory; its output goes to ``log``. ``stop_if`` (not part of the digest) stops the
    tool early when an output line shows the step cannot succeed."""

    tool: str
    args: tuple[str, ...]
    what: str
    log: str
    stop_if: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BuildResult:
    """What ``execute_local`` did.

    Attributes:
        root: the build directory.
        cached: True when the outputs were already there and nothing ran.
        seconds: wall time per step (when cached: those of the build that made them).
        tools: the version of each tool, as the cache key saw it.
        key: the cache key (plan digest and tool versions).
    """

    root: Path
    cached: bool
    seconds: dict[str, float]
    tools: dict[str, str]
    key: str


@dataclass(frozen=True)
class BuildPlan:
    """Files and steps of one build.

    Attributes:
        name: what is built (e.g. the board name).
        files: (relative path, content) pairs, sorted by path.
        steps: tool runs, in order.
        products: files the steps must leave behind (relative paths).
    """

    name: str
    files: tuple[tuple[str, bytes], ...]
    steps: tuple[Step, ...]
    products: tuple[str, ...] = ()
    _by_name: dict[str, bytes] = field(default_factory=dict, init=False, repr=False,
                                       compare=False, hash=False)

    def __post_init__(self) -> None:
        files = tuple(sorted(self.files))
        for path, _ in files:
            if path.startswith("/") or ".." in Path(path).parts:
                raise KilnError(f"Build plan {self.name}: file path {path!r} is not relative")
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "_by_name", dict(files))

    def file(self, path: str) -> bytes:
        """The content of ``path``."""
        try:
            return self._by_name[path]
        except KeyError:
            raise KilnError(f"Build plan {self.name} has no file {path!r}; it has "
                            f"{sorted(self._by_name)}") from None

    def text(self, path: str) -> str:
        return self.file(path).decode()

    def digest(self) -> str:
        """SHA-256 over the name, every file (path and content), the steps and products."""
        h = hashlib.sha256()
        h.update(f"kiln-build-plan 1\0{self.name}\0".encode())
        for path, content in self.files:
            h.update(f"{path}\0{len(content)}\0".encode())
            h.update(content)
        for step in self.steps:
            h.update(json.dumps([step.tool, list(step.args), step.log]).encode())
        h.update(json.dumps(list(self.products)).encode())
        return h.hexdigest()

    def write(self, root: str | Path) -> Path:
        """Write the files under ``root`` (created); files already equal are left alone."""
        out = Path(root)
        out.mkdir(parents=True, exist_ok=True)
        for path, content in self.files:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.is_file() and target.read_bytes() == content):
                target.write_bytes(content)
        return out

    def find_tools(self) -> dict[str, Tool]:
        """Every tool the steps need (raises ToolMissingError for the first one missing)."""
        return {step.tool: require_tool(step.tool, needs=f"{self.name}: {step.what}")
                for step in self.steps}

    def execute_local(self, root: str | Path, *, tools: Mapping[str, Tool] | None = None,
                      timeout_s: float | None = None, force: bool = False) -> BuildResult:
        """Write the files and run the steps in ``root``, unless its stamp says this plan
        was already built there with the same tools (and every product exists).

        Raises:
            ToolMissingError: a tool is not installed.
            ToolFailedError: a step failed (the message has its output's tail).
        """
        found = dict(tools) if tools is not None else self.find_tools()
        versions = {name: found[name].version for name in sorted(found)}
        key = hashlib.sha256(json.dumps([self.digest(), versions]).encode()).hexdigest()
        out = self.write(root)
        stamp = None if force else self._stamp(out, key)
        if stamp is not None:
            log.info("%s: up to date in %s (key %s)", self.name, out, key[:12])
            return BuildResult(out, True, dict(stamp.get("seconds", {})), versions, key)
        (out / STAMP).unlink(missing_ok=True)
        seconds: dict[str, float] = {}
        for step in self.steps:
            log.info("%s: %s (%s)", self.name, step.what, step.tool)
            start = time.monotonic()
            run_tool(found[step.tool].argv(*step.args), cwd=out,
                     what=f"{self.name}: {step.what}", log_file=out / step.log,
                     timeout_s=timeout_s, stop_if=step.stop_if)
            seconds[step.what] = round(time.monotonic() - start, 2)
        missing = [p for p in self.products if not (out / p).is_file()]
        if missing:
            raise KilnError(f"{self.name}: the build in {out} finished without {missing}")
        (out / STAMP).write_text(json.dumps({"key": key, "digest": self.digest(),
                                             "tools": versions, "seconds": seconds},
                                            indent=2) + "\n")
        return BuildResult(out, False, seconds, versions, key)

    def _stamp(self, out: Path, key: str) -> dict[str, Any] | None:
        """The build stamp in ``out`` when it records ``key`` and every product exists."""
        try:
            stamp = json.loads((out / STAMP).read_text())
        except (OSError, ValueError):
            return None
        current = stamp.get("key") == key and all((out / p).is_file() for p in self.products)
        return stamp if current else None
