"""Layer modules: the text of a small Dense, zero weights, constant outputs, latency."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from kiln.ir import Cast, Dense, FixedType, Relu, frozen_codes
from kiln.rtl._builder import Expr
from kiln.rtl._layers import (
    _shift_add,
    emit_cast,
    emit_dense,
    emit_relu,
)

F = FixedType


def norm(text: str) -> str:
    return " ".join(text.split())


OUT = F(6, 3, True, "RND", "SAT")
ACC = F(10, 4)


def _dense(weight: list[list[int]], bias: list[int], out: FixedType = OUT,
           acc: FixedType = ACC) -> Dense:
    w = np.array(weight)
    return Dense("fc", "in", (w.shape[1],), out, weight=frozen_codes(w), bias=frozen_codes(bias),
                 weight_type=F(3, 1), bias_type=F(4, 2), accum_type=acc)


def test_dense_text() -> None:
    """3 * x + bias: the weight's digits (-1, +4) and the bias (16 at the product grid) as
    two adds, the bias first (the lowest shift), the shifted add passing the low two bits
    through; every adder as wide as its exact range (16 - x is 9..24: five unsigned bits);
    registers only at the stage cut (two adder levels) and on the output, whose known range
    leaves the saturation without logic."""
    layer = emit_dense(_dense([[3], [0]], [2]), F(4, 1), "kiln_fc")
    assert layer.latency == 2
    assert norm(layer.module.emit()) == norm("""
        // kiln.rtl: layer 'fc' (dense), 2 x fixed<4,1,TRN,WRAP> -> 1 x fixed<6,3,RND,SAT>.
        // Generated; do not edit.
        `default_nettype none
        module kiln_fc (
          input  wire clk,
          input  wire ce,
          input  wire [7:0] x,
          output wire [5:0] y
        );
          wire [4:0] a3 = (5'd16 - {x[3], x[3:0]});
          wire signed [6:0] a4 = $signed({($signed({2'd0, a3[4:2]})
                                   + $signed({x[3], x[3:0]})), a3[1:0]});
          reg signed [6:0] a4_d1;
          wire signed [7:0] y_0_sum = $signed({a4_d1, 1'd0});
          wire signed [7:0] y_0_acc = y_0_sum;
          wire signed [4:0] y_0_r = ($signed(y_0_acc[7:3]) + $signed({4'd0, y_0_acc[2]}));
          reg signed [5:0] y_0;
          assign y = {y_0};
          always @(posedge clk) begin
            if (ce) begin
              a4_d1 <= a4;
              y_0 <= $signed({y_0_r[4], y_0_r});
            end
          end
          wire _unused_ok = &{
            1'b0, x[7:4], y_0_acc[1:0], 1'b0
          };
        endmodule
        `default_nettype wire
    """)


def test_zero_weights_emit_nothing() -> None:
    weight = [[0, 1, 0], [2, 0, 0], [0, 0, 0], [-1, 3, 0]]
    text = emit_dense(_dense(weight, [0, 0, 0]), F(4, 1), "kiln_fc").module.emit()
    assert "x[11:8]" in text.split("_unused_ok")[1]  # input 2 has only zero weights
    # output 2 has no products and no bias; output 0 is ready a cycle before output 1
    assert "assign y = {6'sd0, y_1, y_0_d1};" in text
    # output 0 is 2 * x1 - x3: one subtract, positive (no negation after it)
    assert "a4 = (($signed({{2{x[7]}}, x[7:4]}) <<< 1) - $signed({{2{x[15]}}, x[15:12]}));" in text


@pytest.mark.parametrize(("w", "expected"), [
    (1, "x"), (-1, "(-x)"), (8, "(x <<< 3)"), (7, "((x <<< 3) - x)"),
    (-6, "((x <<< 1) - (x <<< 3))"), (-5, "((-(x <<< 2)) - x)"),
    (11, "(((x <<< 4) - (x <<< 2)) - x)"),
])
def test_constant_products_are_shift_adds(w: int, expected: str) -> None:
    assert _shift_add(Expr("x", 8, True), w).text == expected


def test_unsigned_inputs_are_zero_extended_before_a_signed_subtract() -> None:
    text = emit_dense(_dense([[-3]], [0]), F(4, 1, False), "kiln_fc").module.emit()
    # -3 * x = x - (x << 2) over codes 0..15 spans [-45, 0]: seven signed bits
    assert "wire signed [6:0] a1 = $signed({($signed({3'd0, x[3:2]}) - $signed({1'd0, x})), " \
        "x[1:0]});" in text


def test_all_zero_layer_is_constant() -> None:
    """No products: the output is the cast bias, a constant, with no registers."""
    layer = emit_dense(_dense([[0, 0], [0, 0]], [3, 0]), F(4, 1), "kiln_fc")
    text = layer.module.emit()
    assert "always" not in text
    # bias 3 at frac 2 -> accumulator frac 6: 48; cast to frac 3 (RND): 6
    assert "assign y = {6'sd0, 6'sd6};" in text


@pytest.mark.parametrize("n_in", [1, 2, 3, 4, 7, 8, 31, 64])
@pytest.mark.parametrize("cast_logic", [True, False])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_dense_latency(n_in: int, cast_logic: bool, levels: int) -> None:
    """n_in inputs of weight 1 and the bias sum in ceil(log2(n_in + 1)) adder levels; the
    output cast adds a level when it has logic (here RND, SAT), none when it is only wiring
    (TRN, WRAP). One cycle per ``levels`` levels, rounded up, and at least one."""
    out = OUT if cast_logic else F(12, 5)
    node = replace(_dense([[1]] * n_in, [1], out=out, acc=F(16, 8)), adder_levels=levels)
    layer = emit_dense(node, F(4, 1), "kiln_fc")
    depth = n_in.bit_length()
    assert layer.latency == max(1, math.ceil((depth + cast_logic) / levels))
    text = layer.module.emit()
    assert not re.search(r"reg .* (p|c)_\d+", text)  # no product registers


def test_relu_signed_and_unsigned() -> None:
    out = F(3, 1, False, "TRN", "SAT")
    signed = emit_relu(Relu("act", "fc", (2,), out), F(5, 2), "kiln_act")
    assert signed.latency == 1
    assert "wire [3:0] r_0 = (x[4] ? 4'd0 : x[3:0]);" in signed.module.emit()
    unsigned = emit_relu(Relu("act", "fc", (2,), out), F(5, 2, False), "kiln_act").module.emit()
    assert "r_0" not in unsigned and "y_0 <= " in unsigned
    one_bit = emit_relu(Relu("act", "fc", (2,), out), F(1, 1), "kiln_act").module.emit()
    assert "assign y = {3'd0, 3'd0};" in one_bit


def test_cast_is_registered_requantize() -> None:
    layer = emit_cast(Cast("c", "r", (1,), F(4, 2, True, "TRN", "WRAP")), F(5, 2, False), "kiln_c")
    assert layer.latency == 1
    assert "y_0 <= $signed(x[4:1]);" in layer.module.emit()
