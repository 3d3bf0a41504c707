"""Fixed-point types and kiln's bit-exact integer reference (ap_fixed semantics)."""

from __future__ import annotations

from typing import Any

from kiln.fixed._quantize import from_float, overflow, requantize, to_float
from kiln.fixed._tables import (
    lut_table,
    sigmoid_table,
    softmax_exp_table,
    softmax_inv_table,
    softmax_stable_defaults,
    softmax_tables,
    tanh_table,
)
from kiln.fixed._types import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedType

__all__ = [
    "FixedType",
    "MAX_WIDTH",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "execute",
    "from_float",
    "lut_codes",
    "lut_table",
    "overflow",
    "requantize",
    "sigmoid_table",
    "softmax_codes",
    "softmax_exp_table",
    "softmax_inv_table",
    "softmax_stable_defaults",
    "softmax_tables",
    "tanh_table",
    "to_float",
]

# These read kiln.ir, which itself needs FixedType: import them on first use.
_LAZY = {
    "execute": "kiln.fixed._executor",
    "lut_codes": "kiln.fixed._activations",
    "softmax_codes": "kiln.fixed._activations",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kiln.fixed' has no attribute {name!r}")
