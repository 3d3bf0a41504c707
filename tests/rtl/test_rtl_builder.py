"""The Verilog builder: typed expressions, width checks, and the text modules emit."""

from __future__ import annotations

import pytest

from kiln.rtl._builder import Module, RtlBuilderError, concat, const, mux, width_for


def norm(text: str) -> str:
    return " ".join(text.split())


def assert_verilog(module: Module, expected: str) -> None:
    assert norm(module.emit()) == norm(expected)


@pytest.mark.parametrize(("lo", "hi", "signed", "width"), [
    (0, 0, False, 1), (0, 1, False, 1), (0, 255, False, 8), (0, 256, False, 9),
    (-1, 0, True, 1), (-2, 1, True, 2), (-128, 127, True, 8), (-129, 0, True, 9),
    (0, 128, True, 9), (-5, 5, True, 4), (3, 7, True, 4),
])
def test_width_for(lo: int, hi: int, signed: bool, width: int) -> None:
    assert width_for(lo, hi, signed) == width


@pytest.mark.parametrize(("value", "width", "signed", "text"), [
    (13, 6, True, "6'sd13"), (-13, 6, True, "(-6'sd13)"), (-32, 6, True, "6'sh20"),
    (0, 3, False, "3'd0"), (7, 3, False, "3'd7"), (-1, 1, True, "1'sh1"),
])
def test_constants(value: int, width: int, signed: bool, text: str) -> None:
    assert const(value, width, signed).text == text


def test_constant_out_of_range() -> None:
    with pytest.raises(RtlBuilderError, match="does not fit"):
        const(32, 6, True)


def test_operands_must_agree() -> None:
    m = Module("m")
    a, b = m.input("a", 4, True), m.input("b", 4)
    with pytest.raises(RtlBuilderError, match="differ"):
        _ = a.expr + b.expr
    with pytest.raises(RtlBuilderError, match="differ"):
        _ = a.expr * const(3, 5, True)
    with pytest.raises(RtlBuilderError, match="condition"):
        mux(a.expr, a.expr, a.expr)


def test_refs_and_casts() -> None:
    m = Module("m")
    x = m.input("x", 12)
    lo = x.ref().sub(0, 6, True)
    hi = x.ref().sub(6, 6, False)
    assert lo.expr.text == "$signed(x[5:0])"
    assert hi.expr.text == "x[11:6]"
    assert lo.cast(8, True).text == "$signed({{2{x[5]}}, x[5:0]})"
    assert lo.cast(7, False).text == "{x[5], x[5:0]}"
    assert hi.cast(8, True).text == "$signed({2'd0, x[11:6]})"
    assert lo.cast(4, False).text == "x[3:0]"
    assert x.ref().cast(12, True).text == "$signed(x)"
    assert concat(hi, lo).text == "{x[11:6], x[5:0]}"
    with pytest.raises(RtlBuilderError, match="outside"):
        x.ref().sub(8, 6, False)


def test_module_text() -> None:
    m = Module("demo", "A demo module.")
    clk, rst_n, en = m.input("clk"), m.input("rst_n"), m.input("en")
    a, b = m.input("a", 4, True), m.input("b", 6)
    y = m.output("y", 8, True)
    wide = m.wire("wide", a.ref().cast(8, True) * const(-3, 8, True))
    acc = m.register("acc", wide.expr + b.ref().cast(8, True), clk, en.expr)
    cnt = m.reg("cnt", 2)
    m.sync(cnt, cnt.expr + const(1, 2, False), clk, en.expr,
           reset=(rst_n.expr.logical_not(), const(0, 2, False)))
    m.assign(y, acc.expr)
    assert_verilog(m, """
        // A demo module.
        `default_nettype none
        module demo (
          input  wire clk,
          input  wire rst_n,
          input  wire en,
          input  wire signed [3:0] a,
          input  wire [5:0] b,
          output wire signed [7:0] y
        );
          wire signed [7:0] wide = ($signed({{4{a[3]}}, a}) * (-8'sd3));
          reg signed [7:0] acc;
          reg [1:0] cnt;
          assign y = acc;
          always @(posedge clk) begin
            if (en) begin
              acc <= (wide + $signed({2'd0, b}));
            end
          end
          always @(posedge clk) begin
            if (!rst_n) begin
              cnt <= 2'd0;
            end else if (en) begin
              cnt <= (cnt + 2'd1);
            end
          end
        endmodule
        `default_nettype wire
    """)


def test_unread_bits_go_to_one_sink() -> None:
    m = Module("slicer")
    x = m.input("x", 8)
    unused = m.input("spare", 3)
    y = m.output("y", 3)
    m.assign(y, concat(x.ref().bits(6, 1), x.ref().bits(2, 2)))
    assert unused.width == 3
    assert_verilog(m, """
        `default_nettype none
        module slicer (
          input  wire [7:0] x,
          input  wire [2:0] spare,
          output wire [2:0] y
        );
          assign y = {x[6], x[3:2]};
          wire _unused_ok = &{
            1'b0, x[7], x[5:4], x[1:0], spare, 1'b0
          };
        endmodule
        `default_nettype wire
    """)


def test_instances_connect_by_name() -> None:
    child = Module("child")
    cin = child.input("i", 4)
    cout = child.output("o", 4)
    child.assign(cout, ~cin.expr)
    top = Module("top")
    a = top.input("a", 4)
    b = top.output("b", 4)
    mid = top.net("mid", 4)
    top.instance(child, "u_child", i=a.expr, o=mid.expr)
    top.assign(b, mid.expr)
    assert_verilog(top, """
        `default_nettype none
        module top (
          input  wire [3:0] a,
          output wire [3:0] b
        );
          wire [3:0] mid;
          assign b = mid;
          child u_child (
            .i(a),
            .o(mid)
          );
        endmodule
        `default_nettype wire
    """)
    with pytest.raises(RtlBuilderError, match="ports"):
        top.instance(child, "u_bad", i=a.expr)
    with pytest.raises(RtlBuilderError, match="free wire"):
        top.instance(child, "u_twice", i=a.expr, o=mid.expr)


def test_mistakes_are_caught() -> None:
    m = Module("m")
    a = m.input("a", 4)
    with pytest.raises(RtlBuilderError, match="declared twice"):
        m.input("a", 4)
    y = m.output("y", 5)
    with pytest.raises(RtlBuilderError, match="assign y"):
        m.assign(y, a.expr)
    m.net("floating", 2)
    with pytest.raises(RtlBuilderError, match="nothing drives y, floating"):
        m.emit()


def test_rom_is_a_registered_case() -> None:
    """A constant table read on the clock (enabled); a table shorter than its address space
    reads 0 past its end; the address counts as read."""
    m = Module("t")
    clk, ce = m.input("clk"), m.input("ce")
    a = m.input("a", 3)
    q = m.rom("q", a.ref().bits(0, 2), [5, -3, 0], 4, True, clk, ce.expr)
    m.assign(m.output("y", 4, True), q.expr)
    assert_verilog(m, """
        `default_nettype none
        module t (
          input wire clk,
          input wire ce,
          input wire [2:0] a,
          output wire signed [3:0] y
        );
          reg signed [3:0] q;
          assign y = q;
          always @(posedge clk) begin
            if (ce) begin
              case (a[1:0])
                2'd0: q <= 4'sd5;
                2'd1: q <= (-4'sd3);
                2'd2: q <= 4'sd0;
                default: q <= 4'sd0;
              endcase
            end
          end
          wire _unused_ok = &{
            1'b0, a[2], 1'b0
          };
        endmodule
        `default_nettype wire
    """)
    with pytest.raises(RtlBuilderError, match="needs an unsigned address"):
        m.rom("r", a.ref().bits(0, 1), [1, 2, 3], 4, True, clk)
    with pytest.raises(RtlBuilderError, match="does not fit"):
        m.rom("s", a.expr, [8], 4, True, clk)
