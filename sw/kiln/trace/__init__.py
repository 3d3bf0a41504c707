"""Per-layer traces: every layer's output codes at every level (the framework model,
kiln.fixed, hls4ml's C simulation, the Verilated RTL) and the first layer where two differ.

``kiln.load(dir).trace(x)`` gives a :class:`Trace`; ``kiln trace DIR X.npy`` prints one.
:func:`bit_sweep` measures accuracy against each layer's output width (kiln.fixed).
"""

from __future__ import annotations

from kiln.trace._levels import collect, reference_values, trace_fixed, trace_hls, trace_rtl
from kiln.trace._sweep import BitSweep, bit_sweep, narrowed
from kiln.trace._trace import LEVEL_DOC, LEVELS, Divergence, Layer, Trace

__all__ = [
    "BitSweep",
    "LEVELS",
    "LEVEL_DOC",
    "Divergence",
    "Layer",
    "Trace",
    "bit_sweep",
    "collect",
    "narrowed",
    "reference_values",
    "trace_fixed",
    "trace_hls",
    "trace_rtl",
]
