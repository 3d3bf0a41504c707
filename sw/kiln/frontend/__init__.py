"""Front end: framework models to an hls4ml ModelGraph (bit-exact types), lowered once to kiln IR."""

from __future__ import annotations

from kiln.frontend._keras import (
    DEFAULT_INPUT_PRECISION,
    SUPPORTED_KERAS_LAYERS,
    KerasSource,
    check_layers,
    convert,
    is_quantized,
    load_keras,
    reference_is_bit_exact,
)
from kiln.frontend._lower import fixed_type, lower

__all__ = [
    "DEFAULT_INPUT_PRECISION",
    "SUPPORTED_KERAS_LAYERS",
    "KerasSource",
    "check_layers",
    "convert",
    "fixed_type",
    "is_quantized",
    "load_keras",
    "lower",
    "reference_is_bit_exact",
]
