"""The compile pipeline: a framework model and :class:`BuildOptions` -> an artifact directory
(front end, hls4ml project and C simulation, kiln IR, Verilog, ``kiln.json``)."""

from __future__ import annotations

from kiln.compiler._compile import compile_artifact, compile_model
from kiln.compiler._options import (
    DEFAULT_CLOCK_PERIOD,
    DEFAULT_PART,
    IO_TYPES,
    BuildOptions,
    IoType,
    ReuseFactor,
)

__all__ = [
    "DEFAULT_CLOCK_PERIOD",
    "DEFAULT_PART",
    "IO_TYPES",
    "BuildOptions",
    "IoType",
    "ReuseFactor",
    "compile_artifact",
    "compile_model",
]
