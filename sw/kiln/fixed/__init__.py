"""Fixed-point types and kiln's bit-exact integer reference (ap_fixed semantics)."""

from __future__ import annotations

from typing import Any

from kiln.fixed._quantize import from_float, overflow, requantize, to_float
from kiln.fixed._types import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedType

__all__ = [
    "FixedType",
    "MAX_WIDTH",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "execute",
    "from_float",
    "overflow",
    "requantize",
    "to_float",
]


def __getattr__(name: str) -> Any:
    # The executor reads kiln.ir, which itself needs FixedType: import it on first use.
    if name == "execute":
        from kiln.fixed._executor import execute

        return execute
    raise AttributeError(f"module 'kiln.fixed' has no attribute {name!r}")
