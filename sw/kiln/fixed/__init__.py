"""Fixed-point types and kiln's bit-exact integer reference (ap_fixed semantics)."""

from __future__ import annotations

from kiln.fixed._quantize import from_float, overflow, requantize, to_float
from kiln.fixed._types import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedType

__all__ = [
    "FixedType",
    "MAX_WIDTH",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "from_float",
    "overflow",
    "requantize",
    "to_float",
]
