"""Lowering of hls4ml's HardActivation (QKeras's hard ``quantized_sigmoid`` and
``quantized_tanh``) into kiln IR.

hls4ml computes ``s = clip(slope * x + shift, 0, 1)`` at full precision and writes ``s``
(hard_sigmoid) or ``2 * s - 1`` (hard_tanh) to the result type (``nnet_activation.h``). That
is ``cast_out(clip(a * x + b, low, high))`` with ``a, b = slope, shift`` and ``[low, high] =
[0, 1]``, or ``a, b = 2 slope, 2 shift - 1`` and ``[-1, 1]``. When the result type saturates
and holds nothing outside ``[low, high]`` (QKeras's own types: ``ufixed<b,0>`` and
``fixed<b,1>``), the clip changes nothing the saturating cast would not: a value above
``high`` casts to the type's maximum either way. kiln builds it as a per-channel scale and
shift (:func:`kiln.frontend._lower_norm.scale_and_shift`): one constant multiply (a shift
for QKeras's 0.5) and an exact sum, then that cast. Any other result type is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.errors import UnsupportedLayerError
from kiln.ir import FixedType, Node

# Fractional bits beyond which a slope or shift is not taken as a fixed-point constant.
_MAX_FRAC = 32


def _constant(value: float, where: str) -> tuple[int, FixedType]:
    """``value`` as one code of the narrowest signed type that holds it exactly."""
    for frac in range(_MAX_FRAC + 1):
        scaled = value * 2.0**frac
        if scaled == int(scaled):
            code = int(scaled)
            width = max(abs(code).bit_length() + 1, 2)
            return code, FixedType(width, width - frac, True)
    raise UnsupportedLayerError(f"{where}: {value} is not a fixed-point constant with at most "
                                f"{_MAX_FRAC} fractional bits; kiln cannot build it exactly")


def lower_hard_activation(layer: Any, source: str, previous: Node) -> Node:
    """A scale-and-shift node from hls4ml's HardActivation (hard_sigmoid, hard_tanh).

    Raises:
        UnsupportedLayerError: another hard function, or a result type that wraps or holds
            values outside the function's range (the clip would then matter).
    """
    from kiln.frontend._lower import _result_type

    function = str(layer.get_attr("activation")).lower()
    slope, shift = float(layer.get_attr("slope")), float(layer.get_attr("shift"))
    if function == "hard_sigmoid":
        scale, offset, low, high = slope, shift, 0.0, 1.0
    elif function == "hard_tanh":
        scale, offset, low, high = 2 * slope, 2 * shift - 1, -1.0, 1.0
    else:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (HardActivation): {function} is not built by kiln; it "
            "builds hard_sigmoid and hard_tanh (QKeras quantized_sigmoid / quantized_tanh)")
    out_t = _result_type(layer)
    lowest, highest = out_t.to_float(out_t.min_code), out_t.to_float(out_t.max_code)
    saturates = out_t.overflow in ("SAT", "SAT_SYM")
    if not saturates or lowest < low or highest > high:
        problem = "wraps" if not saturates else f"holds values outside [{low:g}, {high:g}]"
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({function}): result type {out_t} {problem}, so "
            "the clip would need its own comparators, which kiln does not build. Fix: leave "
            "the activation's result type as QKeras's quantizer gives it (ufixed<bits,0> for "
            "quantized_sigmoid, fixed<bits,1> for quantized_tanh), saturating")
    where = f"Layer {layer.name!r} ({function})"
    scale_code, scale_t = _constant(scale, f"{where} slope")
    offset_code, offset_t = _constant(offset, f"{where} shift")
    from kiln.frontend._lower_norm import scale_and_shift

    return scale_and_shift(layer.name, source, previous, np.array([scale_code]), scale_t,
                           np.array([offset_code]), offset_t, out_t)
