"""kiln IR -> Verilog-2005: a fully unrolled, pipelined AXI4-Stream ``kiln_top`` (II = 1).

``emit_rtl(graph)`` gives an :class:`RtlDesign` (file name -> Verilog text, and
:class:`RtlMeta`); ``write_rtl(design, directory)`` writes the files, ``files.f`` and
``rtl.json``. The arithmetic is bit-exact with :mod:`kiln.fixed`.
"""

from __future__ import annotations

from kiln.rtl._builder import RtlBuilderError
from kiln.rtl._design import RtlDesign, RtlMeta, write_rtl
from kiln.rtl._emit import emit_rtl, supported_kinds

__all__ = [
    "RtlBuilderError",
    "RtlDesign",
    "RtlMeta",
    "emit_rtl",
    "supported_kinds",
    "write_rtl",
]
