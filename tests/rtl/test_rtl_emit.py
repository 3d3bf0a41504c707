"""emit_rtl: dispatch over node kinds, refusals, the top module, names, determinism."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from kiln.errors import KilnError, UnsupportedLayerError
from kiln.ir import (
    NODE_KINDS,
    Cast,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    frozen_codes,
)
from kiln.rtl import emit_rtl, supported_kinds
from kiln.rtl._top import PIPELINES

F = FixedType


def norm(text: str) -> str:
    return " ".join(text.split())


def _tiny(*layers_after_input, name: str = "tiny", **graph_kwargs) -> Graph:
    return Graph(name, (Input("in", "", (2,), F(4, 1)), *layers_after_input), **graph_kwargs)


def _cast(name: str = "out", source: str = "in") -> Cast:
    return Cast(name, source, (2,), F(3, 1, True, "TRN", "WRAP"))


def test_dispatch_lists_every_kind() -> None:
    assert list(PIPELINES) == ["io_parallel", "io_stream"]
    for pipeline in PIPELINES.values():
        assert set(pipeline.emitters) == set(NODE_KINDS)
    assert supported_kinds() == ["dense", "relu", "cast", "lut", "softmax", "conv", "pool", "pad",
                                 "leaky_relu", "elu", "sign_threshold"]
    assert supported_kinds("io_stream") == ["dense", "relu", "cast", "lut", "softmax", "conv",
                                            "pool", "pad", "leaky_relu", "elu", "sign_threshold"]
    with pytest.raises(KilnError, match="io_parallel, io_stream"):
        supported_kinds("io_serial")


@dataclass(frozen=True, eq=False, repr=False)
class Mystery(Node):
    """A node kind kiln.rtl has no emitter for."""

    kind: ClassVar[str] = "mystery"


def test_unsupported_layer_is_named() -> None:
    layer = Mystery("odd", "in", (2,), F(8, 1, False))
    with pytest.raises(UnsupportedLayerError) as info:
        emit_rtl(_tiny(layer))
    message = str(info.value)
    assert repr(layer.name) in message and repr(layer.kind) in message
    assert "dense, relu, cast, lut, softmax" in message


def test_unknown_kinds_are_refused_naming_what_each_io_type_builds() -> None:
    with pytest.raises(UnsupportedLayerError, match="io_parallel: supported kinds are .*conv, "
                       "pool, pad"):
        emit_rtl(_tiny(Mystery("odd", "in", (2,), F(8, 1, False))))
    with pytest.raises(UnsupportedLayerError, match="io_stream: supported kinds are .*pad"):
        emit_rtl(_tiny(Mystery("odd", "in", (2,), F(8, 1, False)), io_type="io_stream"))


def test_refuses_what_it_cannot_build() -> None:
    with pytest.raises(KilnError, match="io_parallel"):
        emit_rtl(_tiny(_cast(), io_type="io_serial"))
    dense = Dense("fc", "in", (3,), F(8, 4), weight=frozen_codes([[1, 0, 2], [3, -1, 0]]),
                  bias=frozen_codes([1, 0, -1]), weight_type=F(3, 1), bias_type=F(3, 1),
                  accum_type=F(12, 6), reuse_factor=4)
    with pytest.raises(KilnError, match=r"reuse factor 4 does not fold it .* Valid choices "
                                        r"near it: 1, 2, 6"):
        emit_rtl(_tiny(dense))
    with pytest.raises(KilnError, match="no layer"):
        emit_rtl(_tiny())
    with pytest.raises(KilnError, match="reads"):  # the IR checker runs first
        emit_rtl(_tiny(_cast(source="elsewhere")))


def test_top_text() -> None:
    design = emit_rtl(_tiny(_cast()))
    assert list(design.files) == ["kiln_out.v", "kiln_top.v"]
    assert norm(design.files["kiln_top.v"]) == norm("""
        // kiln.rtl: top of graph 'tiny' (io_parallel), latency 1, II 1.
        // 1 input and 1 output beat(s) per sample.
        // Generated; do not edit.
        `default_nettype none
        module kiln_top (
          input  wire clk,
          input  wire rst_n,
          input  wire [7:0] s_axis_tdata,
          input  wire s_axis_tvalid,
          output wire s_axis_tready,
          input  wire s_axis_tlast,
          output wire [5:0] m_axis_tdata,
          output wire m_axis_tvalid,
          input  wire m_axis_tready,
          output wire m_axis_tlast
        );
          wire out_out_valid;
          wire out_ce = (m_axis_tready | (~out_out_valid));
          wire [5:0] out_y;
          reg out_valid_q;
          reg out_last_q;
          assign s_axis_tready = (rst_n & out_ce);
          assign out_out_valid = out_valid_q;
          assign m_axis_tvalid = (rst_n & out_valid_q);
          assign m_axis_tdata = out_y;
          assign m_axis_tlast = out_last_q;
          always @(posedge clk) begin
            if (!rst_n) begin
              out_valid_q <= 1'd0;
              out_last_q <= 1'd0;
            end else if (out_ce) begin
              out_valid_q <= (s_axis_tvalid & rst_n);
              out_last_q <= s_axis_tlast;
            end
          end
          kiln_out u_out (
            .clk(clk),
            .ce(out_ce),
            .x(s_axis_tdata),
            .y(out_y)
          );
        endmodule
        `default_nettype wire
    """)


def _chain() -> Graph:
    dense = Dense("fc-1", "in", (3,), F(8, 4), weight=frozen_codes([[1, 0, 2], [3, -1, 0]]),
                  bias=frozen_codes([1, 0, -1]), weight_type=F(3, 1), bias_type=F(3, 1),
                  accum_type=F(12, 6), adder_levels=1)
    cast = Cast("fc_1", "fc-1", (3,), F(4, 2, False, "RND", "SAT"))
    return _tiny(dense, cast, Cast("top", "fc_1", (3,), F(5, 3)))


def test_names_are_verilog_identifiers_and_unique() -> None:
    design = emit_rtl(_chain())
    assert list(design.files) == ["kiln_fc_1.v", "kiln_fc_1_1.v", "kiln_top_2.v", "kiln_top.v"]
    top = design.files["kiln_top.v"]
    assert "kiln_fc_1 u_fc_1 (" in top and "kiln_fc_1_1 u_fc_1_1 (" in top
    assert ".x(fc_1_y)" in top and ".x(fc_1_1_y)" in top


def test_latency_is_the_sum_of_layers() -> None:
    design = emit_rtl(_chain())
    # dense: output 0 is x0 - x1 + (x1 << 2) + bias, depth 2 at one level a cycle, and its
    # output cast (TRN, WRAP) is only wiring: 2; each cast 1
    assert design.meta.latency == 4
    top = design.files["kiln_top.v"]
    # Each layer boundary is a stream: the valid bit (and tlast) delayed alongside each layer.
    assert "reg [1:0] fc_1_valid_q;" in top and "reg top_2_last_q;" in top
    assert "fc_1_valid_q <= {fc_1_valid_q[0], (s_axis_tvalid & rst_n)};" in top
    assert "fc_1_1_valid_q <= fc_1_valid_q[1];" in top
    assert "fc_1_1_last_q <= fc_1_last_q[1];" in top
    assert "assign m_axis_tvalid = (rst_n & top_2_valid_q);" in top


def test_meta_describes_the_ports() -> None:
    meta = emit_rtl(_chain()).meta
    assert (meta.top, meta.in_elems, meta.in_width, meta.in_signed) == ("kiln_top", 2, 4, True)
    assert (meta.out_elems, meta.out_width, meta.out_signed, meta.ii) == (3, 5, True, 1)
    assert (meta.in_bits, meta.out_bits) == (8, 15)


def test_emission_is_deterministic() -> None:
    assert emit_rtl(_chain()) == emit_rtl(_chain())
