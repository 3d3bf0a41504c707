"""What kiln.rtl produces: Verilog files plus the hardware contract, and their writer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiln.artifact import TopContract, write_top


@dataclass(frozen=True)
class RtlDesign:
    """Generated Verilog: ``files`` maps file names to text (top in ``kiln_top.v``), in
    dependency order, top last; ``meta`` is the contract other stages read."""

    files: dict[str, str]
    meta: TopContract


def write_rtl(design: RtlDesign, directory: str | Path) -> Path:
    """Write the Verilog files, ``files.f`` and ``rtl.json`` into ``directory``.

    The output is deterministic: the same design gives byte-identical files.

    Returns:
        The directory.
    """
    return write_top(directory, design.files, design.meta)
