"""The external tools kiln runs (Verilator, Icarus, g++, yosys, nextpnr, the packers,
openFPGALoader, Vivado): one registry that finds them by name, with an environment-variable
override, a version gate and an install hint (:func:`require_tool`), and one runner that logs
their progress, enforces a time limit and kills what they started (:func:`run_tool`).

Their errors are :class:`kiln.errors.ToolMissingError` and :class:`kiln.errors.ToolFailedError`.
"""

from __future__ import annotations

from kiln.tools._registry import TOOLS, Tool, ToolSpec, at_least, parse_version, require_tool
from kiln.tools._run import run_tool
from kiln.tools._verilator import Verilator, find_verilator

__all__ = [
    "TOOLS",
    "Tool",
    "ToolSpec",
    "Verilator",
    "at_least",
    "find_verilator",
    "parse_version",
    "require_tool",
    "run_tool",
]
