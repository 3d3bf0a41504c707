"""Lowering of hls4ml's leaky_relu, thresholded_relu, prelu and elu layers into kiln's
:class:`LeakyRelu` and :class:`Elu` nodes.

The constants are read as hls4ml's Vivado templates write them
(``ParametrizedActivationFunctionTemplate`` / ``PReLUFunctionTemplate`` in
``backends/vivado/passes/core_templates.py``): a leaky ReLU's slope, a thresholded ReLU's
theta and an ELU's alpha are printed as a double literal in the function call, which C++
converts to the layer's ``param_t`` (with its rounding and overflow); a PReLU's slopes are a
weight array of that type. The ELU table comes from kiln.fixed.elu_table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import PrecisionError, UnsupportedLayerError
from kiln.fixed import elu_table, from_float
from kiln.ir import Elu, FixedType, LeakyRelu, Node, frozen_codes, spatial

#: hls4ml's layer classes lowered here: ParametrizedActivation is its leaky_relu,
#: thresholded_relu and elu (the ``activation`` attribute says which).
RECTIFIER_LAYERS = ("ParametrizedActivation", "PReLU")
_FUNCTIONS = ("leakyrelu", "thresholdedrelu", "elu")


def _fixed(layer: Any, attr: str, value: Any) -> FixedType:
    from kiln.frontend._lower import fixed_type

    return fixed_type(getattr(value, "precision", value), f"Layer {layer.name!r} {attr}")


def _literal(layer: Any, value: float, t: FixedType) -> int:
    """``param_t(value)``: the code C++ gives the double literal hls4ml prints."""
    if not np.isfinite(value):
        raise PrecisionError(f"Layer {layer.name!r}: parameter {value!r} is not a finite "
                             "number; give the layer a finite one")
    return int(from_float(torch.tensor([float(value)], dtype=torch.float64), t)[0])


def _slopes(codes: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """The fewest slope codes that give every element its own: one, one per channel (the
    same at every pixel), or one per element."""
    flat = codes.reshape(-1)
    if np.all(flat == flat[0]):
        return np.asarray(flat[:1])
    channels = spatial(shape)[2]
    per_pixel = flat.reshape(-1, channels)
    if np.all(per_pixel == per_pixel[:1]):
        return np.asarray(per_pixel[0])
    return flat


def _prelu(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType) -> Node:
    from kiln.frontend._lower import weight_codes

    variable = layer.weights["param"]
    alpha_t = _fixed(layer, "param", variable.type)
    size = int(np.prod(shape))
    if variable.data.size != size:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (PReLU): {variable.data.size} slope(s) for {size} "
            "elements; hls4ml's prelu reads one slope per element (its C simulation would "
            "read past the array). Fix: one slope per input element (PyTorch: "
            f"nn.PReLU(num_parameters={size}) on a flat input), or a LeakyReLU for one "
            "shared slope.")
    codes = weight_codes(variable, alpha_t, f"Layer {layer.name!r} slopes")
    return LeakyRelu(name=layer.name, source=source, shape=shape, out_type=out_t,
                     alpha=frozen_codes(_slopes(np.asarray(codes), shape)),
                     alpha_type=alpha_t, threshold=0, threshold_type=alpha_t)


def lower_rectifier(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType
                    ) -> Node:
    """The node of an hls4ml LeakyReLU, ThresholdedReLU, PReLU or ELU layer (the first also
    what QKeras's quantized_relu with a negative slope converts to).

    Raises:
        UnsupportedLayerError: a PReLU whose slopes do not cover its elements.
        PrecisionError: a parameter that is not a finite number, or a type kiln cannot build.
    """
    cls = layer.class_name
    if cls == "PReLU":
        return _prelu(layer, source, shape, out_t)
    function = str(layer.get_attr("activation")).lower().replace("_", "")
    if function not in _FUNCTIONS:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({cls}): activation {function!r} is not one kiln builds; "
            f"supported: {', '.join(_FUNCTIONS)} and PReLU")
    param_t = _fixed(layer, "param_t", layer.get_attr("param_t"))
    code = _literal(layer, float(layer.get_attr("activ_param", 1.0)), param_t)
    if function == "elu":
        table_t = _fixed(layer, "table_t", layer.get_attr("table_t"))
        table = elu_table(int(layer.get_attr("table_size")), table_t)
        return Elu(name=layer.name, source=source, shape=shape, out_type=out_t,
                   table=frozen_codes(table), table_type=table_t, alpha=code,
                   alpha_type=param_t)
    if function == "thresholdedrelu":
        return LeakyRelu(name=layer.name, source=source, shape=shape, out_type=out_t,
                         alpha=frozen_codes([0]), alpha_type=param_t, threshold=code,
                         threshold_type=param_t)
    return LeakyRelu(name=layer.name, source=source, shape=shape, out_type=out_t,
                     alpha=frozen_codes([code]), alpha_type=param_t, threshold=0,
                     threshold_type=param_t)
