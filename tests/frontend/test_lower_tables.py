"""kiln.frontend._lower_tables on stand-in hls4ml layers: which attributes become which node
fields, the defaults hls4ml's Vivado softmax template applies, and what is refused. (Real
hls4ml layers against their C simulation: tests/rtl/test_rtl_tables.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from kiln.errors import UnsupportedLayerError
from kiln.fixed import lut_table, softmax_exp_table, softmax_inv_table
from kiln.frontend._lower_tables import lower_lut, lower_softmax
from kiln.ir import FixedType, Lut, Softmax

F = FixedType
RS = F(18, 8, True, "RND", "SAT")
OUT = F(16, 6)
JET_LOGITS = F(18, 7)


def _named(name: str, t: FixedType) -> Any:
    from hls4ml.model.types import (
        FixedPrecisionType,
        NamedType,
        RoundingMode,
        SaturationMode,
    )

    precision = FixedPrecisionType(t.width, t.integer, t.signed, RoundingMode[t.rounding],
                                   SaturationMode[t.overflow])
    return NamedType(name, precision)


@dataclass
class _Variable:
    type: Any


@dataclass
class FakeLayer:
    """The part of an hls4ml layer the lowering reads."""

    name: str
    in_type: FixedType
    attrs: dict[str, Any] = field(default_factory=dict)

    def get_attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def get_input_variable(self) -> _Variable:
        return _Variable(_named("layer_in_t", self.in_type))


def _softmax_layer(in_type: FixedType = JET_LOGITS, **attrs: Any) -> FakeLayer:
    base = {"implementation": "stable", "table_size": 1024,
            **{f"{k}_t": _named(f"softmax_{k}_t", RS)
               for k in ("exp_table", "inv_table", "inv_inp", "accum")}}
    return FakeLayer("softmax", in_type, {**base, **attrs})


def test_jet_tagger_softmax_defaults() -> None:
    """The jet tagger's layer: 'stable', inp_norm_t = ufixed<17,6> (the signed input less its
    sign bit), both tables of 1024 entries."""
    node = lower_softmax(_softmax_layer(), "output", (5,), OUT)
    assert isinstance(node, Softmax)
    assert (node.source, node.shape, node.out_type, node.implementation) == \
        ("output", (5,), OUT, "stable")
    assert node.inp_norm_type == F(17, 6, False)
    assert (node.exp_table_type, node.inv_table_type, node.accum_type, node.inv_inp_type) == \
        (RS, RS, RS, RS)
    assert np.array_equal(node.exp_table,
                          softmax_exp_table(1024, F(17, 6, False), RS, negative=True))
    assert np.array_equal(node.inv_table, softmax_inv_table(1024, RS, RS))


def test_stable_exp_table_shrinks_to_the_normalized_input() -> None:
    """A signed 8-bit input: x_max - x has 7 bits, so the exp table has 128 entries while the
    inverse table keeps table_size."""
    node = lower_softmax(_softmax_layer(F(8, 3), table_size=1024), "x", (3,), OUT)
    assert isinstance(node, Softmax)
    assert node.inp_norm_type == F(7, 2, False)
    assert (len(node.exp_table), len(node.inv_table)) == (128, 1024)


def test_explicit_sizes_types_and_scale() -> None:
    """inp_norm_t, exp/inv table sizes and exp_scale as hls4ml's HGQ converter sets them."""
    norm = F(6, 3, False, "RND", "SAT")
    node = lower_softmax(_softmax_layer(F(10, 4), inp_norm_t=_named("n_t", norm),
                                        exp_table_size=64, inv_table_size=256, exp_scale=0.75),
                         "x", (4,), OUT)
    assert isinstance(node, Softmax)
    assert node.inp_norm_type == norm
    assert np.array_equal(node.exp_table,
                          softmax_exp_table(64, norm, RS, negative=True, exp_scale=0.75))
    assert len(node.inv_table) == 256


def test_unset_inverse_input_type_is_the_exp_table_type() -> None:
    exp_t = F(16, 4, False, "RND", "SAT")
    node = lower_softmax(_softmax_layer(exp_table_t=_named("softmax_exp_table_t", exp_t),
                                        inv_inp_t=_named("model_default_t", F(16, 6))),
                         "x", (5,), OUT)
    assert isinstance(node, Softmax)
    assert node.inv_inp_type == exp_t


def test_latency_addresses_by_the_input() -> None:
    node = lower_softmax(_softmax_layer(F(10, 4), implementation="latency", table_size=512),
                         "x", (3,), OUT)
    assert isinstance(node, Softmax)
    assert node.implementation == "latency" and len(node.exp_table) == 512
    assert np.array_equal(node.exp_table, softmax_exp_table(512, F(10, 4), RS, negative=False))


@pytest.mark.parametrize("implementation", ["legacy", "argmax"])
def test_refuses_other_implementations(implementation: str) -> None:
    with pytest.raises(UnsupportedLayerError,
                       match=f"'softmax'.*implementation '{implementation}'.*stable, latency"):
        lower_softmax(_softmax_layer(implementation=implementation), "x", (5,), OUT)


def test_refuses_softmax_over_an_inner_axis() -> None:
    with pytest.raises(UnsupportedLayerError, match="'softmax'.*n_inner=4"):
        lower_softmax(_softmax_layer(n_inner=4), "x", (8,), OUT)


@pytest.mark.parametrize(("function", "in_range"), [("sigmoid", 8), ("tanh", 4)])
def test_lut(function: str, in_range: int) -> None:
    table_t = F(16, 2, True, "RND", "SAT")
    layer = FakeLayer(function, F(12, 4), {"table_size": 512,
                                           "table_t": _named(f"{function}_table_t", table_t)})
    node = lower_lut(layer, "fc", (7,), OUT, function)
    assert isinstance(node, Lut)
    assert (node.function, node.in_range, node.table_type, node.shape) == \
        (function, in_range, table_t, (7,))
    assert np.array_equal(node.table, lut_table(function, 512, table_t))


def test_lut_refuses_other_functions() -> None:
    layer = FakeLayer("act", F(12, 4), {"table_size": 512, "table_t": _named("t", RS)})
    with pytest.raises(UnsupportedLayerError, match="'act'.*'elu'"):
        lower_lut(layer, "fc", (7,), OUT, "elu")
