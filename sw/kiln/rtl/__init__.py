"""kiln IR -> Verilog-2005: a pipelined AXI4-Stream ``kiln_top`` of fully unrolled layers,
one beat per sample (io_parallel, II = 1) or per pixel (io_stream, line buffers).

``emit_rtl(graph)`` gives an :class:`RtlDesign` (file name -> Verilog text, and its
:class:`kiln.artifact.TopContract`); ``write_rtl(design, directory)`` writes the files,
``files.f`` and ``rtl.json``. The arithmetic is bit-exact with :mod:`kiln.fixed`.
"""

from __future__ import annotations

from kiln.rtl._builder import RtlBuilderError
from kiln.rtl._cost import Cost, estimate
from kiln.rtl._design import RtlDesign, write_rtl
from kiln.rtl._top import emit_rtl, output_beats, supported_kinds

__all__ = [
    "Cost",
    "RtlBuilderError",
    "RtlDesign",
    "emit_rtl",
    "estimate",
    "output_beats",
    "supported_kinds",
    "write_rtl",
]
