"""Lowering of hls4ml's BatchNormalization (a per-channel scale and shift) into kiln IR.

hls4ml folds a BatchNormalization into the Dense or Conv before it only when that layer is
unquantized and its result untyped (``fuse_batch_normalization``); every other one (after a
QDense, on the input, after an activation) stays a layer computing, per element,
``res = (res_t)(x * scale[c] + bias[c])`` with the product and sum at full precision
(``nnet_batchnorm.h`` ``normalize``). kiln builds that as a Dense (vectors) or a 1x1 Conv
(images, io_stream) whose weight matrix is diagonal: zero weights build nothing, so it costs
one constant multiplier per channel, and an accumulator that holds ``x * scale + bias``
exactly makes its single cast to the result type the same as hls4ml's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.ir import Conv, Dense, FixedType, Node, frozen_codes


def exact_sum_type(in_t: FixedType, scale_t: FixedType, bias_t: FixedType) -> FixedType:
    """A wrapping type that holds every ``x * scale + bias`` exactly (one guard bit)."""
    frac = max(in_t.frac + scale_t.frac, bias_t.frac)
    product_int = in_t.integer + scale_t.integer + int(not (in_t.signed or scale_t.signed))
    integer = max(product_int, bias_t.integer + int(not bias_t.signed)) + 2
    return FixedType(integer + frac, integer, True)


def lower_batchnorm(layer: Any, source: str, previous: Node) -> Node:
    """A diagonal Dense (flat input) or 1x1 Conv (image) from hls4ml's BatchNormalization."""
    from kiln.frontend._lower import _result_type, _type_of, weight_codes

    scale_t, bias_t = _type_of(layer, "scale_t"), _type_of(layer, "bias_t")
    scale = weight_codes(layer.weights["scale"], scale_t, f"Layer {layer.name!r} scale")
    bias = weight_codes(layer.weights["bias"], bias_t, f"Layer {layer.name!r} bias")
    return scale_and_shift(layer.name, source, previous, scale, scale_t, bias, bias_t,
                           _result_type(layer))


def scale_and_shift(name: str, source: str, previous: Node, scale: NDArray[Any],
                    scale_t: FixedType, bias: NDArray[Any], bias_t: FixedType,
                    out_type: FixedType) -> Node:
    """``cast_out(x * scale[c] + bias[c])`` per channel ``c`` (codes of ``scale_t`` and
    ``bias_t``; one code broadcasts to every channel), the sum exact before the cast, as a
    diagonal Dense (flat input) or 1x1 Conv (image)."""
    shape = previous.shape
    channels = int(shape[-1])
    scale = np.broadcast_to(scale.reshape(-1), (channels,)) if scale.size == 1 else scale
    bias = np.broadcast_to(bias.reshape(-1), (channels,)) if bias.size == 1 else bias
    weight = np.zeros((channels, channels), dtype=np.int64)
    weight[np.arange(channels), np.arange(channels)] = scale.reshape(channels)
    common: dict[str, Any] = {
        "name": name, "source": source, "shape": shape, "out_type": out_type,
        "weight": frozen_codes(weight), "bias": frozen_codes(bias.reshape(channels)),
        "weight_type": scale_t, "bias_type": bias_t,
        "accum_type": exact_sum_type(previous.out_type, scale_t, bias_t),
    }
    if len(shape) == 1:
        return Dense(**common)
    return Conv(**common, kernel=(1, 1), stride=(1, 1))
