"""Lowering of hls4ml's table activations (softmax, sigmoid, tanh) into kiln IR nodes.

The types and table sizes are read as hls4ml's Vivado templates use them when they write the
layer's config struct (``SoftmaxConfigTemplate`` and ``ActivationConfigTemplate`` in
``backends/vivado/passes/core_templates.py``), after its optimizer passes (among them
``fix_softmax_table_size``) have run; the tables themselves come from kiln.fixed.
"""

from __future__ import annotations

from typing import Any

from kiln.errors import UnsupportedLayerError
from kiln.fixed import lut_table, softmax_stable_defaults, softmax_tables
from kiln.ir import (
    LUT_IN_RANGE,
    SOFTMAX_IMPLEMENTATIONS,
    FixedType,
    Lut,
    Node,
    Softmax,
    frozen_codes,
)

# The name hls4ml gives a type attribute nobody configured; its softmax template then uses
# exp_table_t for inv_inp_t.
_UNSET_TYPE = "model_default_t"


def _fixed(layer: Any, attr: str, value: Any) -> FixedType:
    from kiln.frontend._lower import fixed_type

    precision = getattr(value, "precision", value)  # a NamedType, or a bare precision
    return fixed_type(precision, f"Layer {layer.name!r} {attr}")


def _type_attr(layer: Any, attr: str) -> FixedType:
    return _fixed(layer, attr, layer.get_attr(attr))


def _input_type(layer: Any) -> FixedType:
    return _fixed(layer, "input", layer.get_input_variable().type)


def lower_softmax(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType) -> Node:
    """A :class:`Softmax` node from hls4ml's Softmax layer (io_parallel, one slice).

    Raises:
        UnsupportedLayerError: an implementation other than 'stable' and 'latency', or a
            softmax over an inner axis (n_inner or n_outer > 1).
    """
    implementation = str(layer.get_attr("implementation", "stable")).lower()
    if implementation not in SOFTMAX_IMPLEMENTATIONS:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (Softmax): implementation {implementation!r} is not "
            f"supported by kiln; supported: {', '.join(SOFTMAX_IMPLEMENTATIONS)}. Set the "
            "layer's 'Implementation' in the hls4ml config to one of them."
        )
    outer, inner = int(layer.get_attr("n_outer", 1)), int(layer.get_attr("n_inner", 1))
    if outer != 1 or inner != 1:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (Softmax): softmax over an inner axis (n_outer={outer}, "
            f"n_inner={inner}) is not supported by kiln; only a softmax over the last axis "
            "of a flat tensor is. Flatten before the softmax."
        )
    in_t = _input_type(layer)
    table_size = int(layer.get_attr("table_size"))
    exp_size = int(layer.get_attr("exp_table_size", table_size))
    inv_size = int(layer.get_attr("inv_table_size", table_size))
    exp_t, inv_t = _type_attr(layer, "exp_table_t"), _type_attr(layer, "inv_table_t")
    inv_inp = layer.get_attr("inv_inp_t")
    inv_inp_t = exp_t if inv_inp is None or inv_inp.name == _UNSET_TYPE else \
        _fixed(layer, "inv_inp_t", inv_inp)
    inp_norm_t = FixedType(1, 0)  # the template's ap_fixed<1,0>: unused by 'latency'
    if implementation == "stable":
        inp_norm = layer.get_attr("inp_norm_t")
        if inp_norm is not None:
            inp_norm_t = _fixed(layer, "inp_norm_t", inp_norm)
        else:
            inp_norm_t, default_size = softmax_stable_defaults(in_t, inv_size)
            exp_size = default_size if in_t.signed else exp_size
    exp_scale = float(layer.get_attr("exp_scale", 1.0))
    exp, inv = softmax_tables(
        implementation, in_t, exp_table_type=exp_t, inv_table_type=inv_t,
        inv_inp_type=inv_inp_t, exp_table_size=exp_size, inv_table_size=inv_size,
        inp_norm_type=inp_norm_t if implementation == "stable" else None, exp_scale=exp_scale,
    )
    return Softmax(
        name=layer.name, source=source, shape=shape, out_type=out_t,
        implementation=implementation, exp_table=frozen_codes(exp), inv_table=frozen_codes(inv),
        exp_table_type=exp_t, inv_table_type=inv_t, accum_type=_type_attr(layer, "accum_t"),
        inv_inp_type=inv_inp_t, inp_norm_type=inp_norm_t,
    )


def lower_lut(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType,
              function: str) -> Node:
    """A :class:`Lut` node from hls4ml's sigmoid or tanh Activation layer."""
    if function not in LUT_IN_RANGE:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r}: activation {function!r} has no hls4ml table kiln builds; "
            f"supported: {', '.join(LUT_IN_RANGE)}"
        )
    table_t = _type_attr(layer, "table_t")
    table = lut_table(function, int(layer.get_attr("table_size")), table_t)
    return Lut(name=layer.name, source=source, shape=shape, out_type=out_t, function=function,
               in_range=LUT_IN_RANGE[function], table=frozen_codes(table), table_type=table_t)
