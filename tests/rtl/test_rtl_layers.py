"""Layer modules: the text of a small Dense, zero weights, constant outputs, latency."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kiln.ir import Cast, Dense, FixedType, Relu, frozen_codes
from kiln.rtl._builder import Expr
from kiln.rtl._layers import (
    ADDER_LEVELS_PER_STAGE,
    _shift_add,
    emit_cast,
    emit_dense,
    emit_relu,
    naf,
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
    """Products as shifts and adds of the (sign-extended) input, registered at their own width
    when their cast to the accumulator is only wiring; the bias as a constant of the
    accumulator type; the sum cast to the output type (RND, SAT) and registered."""
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
          wire signed [5:0] x_0 = $signed({{2{x[3]}}, x[3:0]});
          reg signed [5:0] p_0_0;
          wire signed [6:0] c_0_0_s = $signed({p_0_0, 1'd0});
          wire signed [9:0] acc_0 = ($signed({{3{c_0_0_s[6]}}, c_0_0_s}) + 10'sd32);
          wire signed [7:0] y_0_r = ($signed({acc_0[9], acc_0[9:3]}) + $signed({7'd0, acc_0[2]}));
          reg signed [5:0] y_0;
          assign y = {y_0};
          always @(posedge clk) begin
            if (ce) begin
              p_0_0 <= ((x_0 <<< 2) - x_0);
              y_0 <= ((y_0_r > 8'sd31) ? 6'sd31 :
                      ((y_0_r < (-8'sd32)) ? 6'sh20 : $signed(y_0_r[5:0])));
            end
          end
          wire _unused_ok = &{
            1'b0, x[7:4], acc_0[1:0], 1'b0
          };
        endmodule
        `default_nettype wire
    """)


def test_zero_weights_emit_nothing() -> None:
    weight = [[0, 1, 0], [2, 0, 0], [0, 0, 0], [-1, 3, 0]]
    text = emit_dense(_dense(weight, [0, 0, 0]), F(4, 1), "kiln_fc").module.emit()
    products = sorted(re.findall(r"reg signed \[\d+:0\] (p_\d+_\d+);", text))
    assert products == ["p_0_1", "p_1_0", "p_3_0", "p_3_1"]
    assert "x_2" not in text and "x[11:8]" in text.split("_unused_ok")[1]
    assert "p_1_0 <= (x_1 <<< 1);" in text  # 2
    assert "p_3_0 <= (-$signed(x_3[4:0]));" in text  # -1
    assert "p_3_1 <= ((x_3 <<< 2) - x_3);" in text  # 3
    assert "assign y = {6'sd0, y_1, y_0};" in text  # output 2 has no products and no bias


@pytest.mark.parametrize(("w", "expected"), [
    (1, "x"), (-1, "(-x)"), (8, "(x <<< 3)"), (7, "((x <<< 3) - x)"),
    (-6, "((x <<< 1) - (x <<< 3))"), (-5, "((-(x <<< 2)) - x)"),
    (11, "(((x <<< 4) - (x <<< 2)) - x)"),
])
def test_constant_products_are_shift_adds(w: int, expected: str) -> None:
    assert _shift_add(Expr("x", 8, True), w).text == expected
    for v in range(-300, 300):
        assert sum(sign << k for sign, k in naf(v)) == v


def test_unsigned_inputs_are_zero_extended_before_a_signed_multiply() -> None:
    text = emit_dense(_dense([[-3]], [0]), F(4, 1, False), "kiln_fc").module.emit()
    # codes 0..15 times -3 span [-45, 0]: seven signed bits
    assert "wire signed [6:0] x_0 = $signed({3'd0, x});" in text
    assert "reg signed [6:0] p_0_0;" in text


def test_all_zero_layer_is_constant() -> None:
    """No products: the output is the cast bias, a constant, with no registers."""
    layer = emit_dense(_dense([[0, 0], [0, 0]], [3, 0]), F(4, 1), "kiln_fc")
    text = layer.module.emit()
    assert "always" not in text
    # bias 3 at frac 2 -> accumulator frac 6: 48; cast to frac 3 (RND): 6
    assert "assign y = {6'sd0, 6'sd6};" in text


@pytest.mark.parametrize("n_in", [1, 2, 3, 4, 7, 8, 31, 64])
@pytest.mark.parametrize("cast_logic", [True, False])
def test_dense_latency(n_in: int, cast_logic: bool) -> None:
    """The tree sums n_in products and the bias in ``depth`` levels; the output cast adds a
    level when it has logic (here RND, SAT), none when it is only wiring (TRN, WRAP). One
    cycle for the products, then one per ADDER_LEVELS_PER_STAGE levels, rounded up."""
    out = OUT if cast_logic else F(12, 5)
    layer = emit_dense(_dense([[1]] * n_in, [1], out=out, acc=F(16, 8)), F(4, 1), "kiln_fc")
    depth = n_in.bit_length()  # ceil(log2(n_in + 1))
    levels = depth + cast_logic
    assert layer.latency == 1 + math.ceil(levels / ADDER_LEVELS_PER_STAGE)
    text = layer.module.emit()
    registers = set(re.findall(r"reg signed \[\d+:0\] (s\d+)_0_\d+;", text))
    assert len(registers) == depth // ADDER_LEVELS_PER_STAGE
    output_registered = bool(re.search(r"reg signed \[\d+:0\] y_0;", text))
    assert output_registered == (cast_logic or depth % ADDER_LEVELS_PER_STAGE != 0)


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
