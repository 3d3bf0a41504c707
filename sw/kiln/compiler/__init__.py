"""The compile pipeline: a framework model and :class:`BuildOptions` -> an artifact directory
(front end, hls4ml project and C simulation, kiln IR, Verilog, ``kiln.json``)."""

from __future__ import annotations

from kiln.compiler._compile import compile_artifact, compile_model
from kiln.compiler._fit import (
    DesignTooLargeError,
    Fit,
    check_fits,
    choose_fit,
    with_reuse_factors,
)
from kiln.compiler._options import (
    AUTO,
    DEFAULT_CLOCK_PERIOD,
    DEFAULT_PART,
    FIT_MARGIN,
    HARD_BLOCK_MARGIN,
    IO_TYPES,
    BuildOptions,
    IoType,
    ReuseFactor,
)

__all__ = [
    "AUTO",
    "DEFAULT_CLOCK_PERIOD",
    "DEFAULT_PART",
    "FIT_MARGIN",
    "HARD_BLOCK_MARGIN",
    "IO_TYPES",
    "BuildOptions",
    "DesignTooLargeError",
    "Fit",
    "IoType",
    "ReuseFactor",
    "check_fits",
    "choose_fit",
    "compile_artifact",
    "compile_model",
    "with_reuse_factors",
]
