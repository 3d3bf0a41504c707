"""Table activations in RTL (kiln.rtl._tables): sigmoid, tanh and softmax lowered from real
hls4ml layers, the Verilated design equal to kiln.fixed and to hls4ml's C simulation, code for
code; the emitted modules' shape, latency and lint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln.fixed import execute, lut_table, softmax_stable_defaults, softmax_tables
from kiln.ir import FixedType, Graph, Input, Lut, Softmax, frozen_codes
from kiln.rtl import emit_rtl, write_rtl
from kiln.rtl._tables import emit_lut, emit_softmax

F = FixedType
RS = F(18, 8, True, "RND", "SAT")  # hls4ml's default softmax table / accumulator type
JET_OUT = F(16, 6)


@dataclass(frozen=True)
class Branch:
    """One activation fed by the model input, and its hls4ml layer config."""

    name: str
    function: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Case:
    """A Keras model: ``n`` inputs of ``input_type`` feeding every branch."""

    n: int
    input_type: str
    branches: tuple[Branch, ...]


# Five inputs: the jet tagger's softmax types (hls4ml's defaults), a 'latency' softmax with
# types of its own, sigmoid and tanh with rounding, saturating results.
SMALL = Case(5, "fixed<12,4>", (
    Branch("sigmoid", "sigmoid", dict(Precision={"result": "ufixed<10,0,RND,SAT>"},
                                      TableSize=2048, table_t="ufixed<20,0,RND,SAT>")),
    Branch("tanh", "tanh", dict(Precision={"result": "fixed<10,1,RND_CONV,SAT>"})),
    Branch("softmax", "softmax", dict(Precision={"result": "fixed<16,6>"})),
    Branch("softmax_lat", "softmax", dict(
        Implementation="latency", TableSize=512,
        Precision={"result": "ufixed<12,0,RND,SAT>", "accum": "ufixed<20,12,RND,SAT>"},
        exp_table_t="ufixed<20,10,RND,SAT>", inv_table_t="ufixed<18,4,RND,SAT>",
        inv_inp_t="ufixed<16,10,RND,SAT>")),
))
# Ten inputs (a reduce tree that is not a power of two) of a coarse, wide type that reaches
# both ends of every table; an accumulator that overflows to zero (SAT_ZERO), so the grouping
# of the sum decides the result (under SAT or WRAP it could not, the exps being positive); a
# sigmoid table whose size is no power of two.
WIDE = Case(10, "fixed<14,8>", (
    Branch("sigmoid", "sigmoid", dict(Precision={"result": "ufixed<8,0,RND,SAT>"},
                                      TableSize=100)),
    Branch("tanh", "tanh", dict(Precision={"result": "fixed<12,2,RND,SAT>"}, TableSize=4096,
                                table_t="fixed<16,2,RND,SAT>")),
    Branch("softmax", "softmax", dict(
        TableSize=256, Precision={"result": "ufixed<10,0,RND,SAT>",
                                  "accum": "fixed<10,3,RND,SAT_ZERO>"},
        exp_table_t="ufixed<10,1,RND,SAT>", inv_table_t="ufixed<12,4,RND,SAT>",
        inv_inp_t="ufixed<8,3,RND,SAT>")),
    Branch("softmax_lat", "softmax", dict(Implementation="latency",
                                          Precision={"result": "fixed<16,6>"})),
))


def _keras_model(case: Case) -> Any:
    from tensorflow import keras

    inp = keras.Input((case.n,), name="x")
    outs = [keras.layers.Activation(b.function, name=b.name)(inp) for b in case.branches]
    while len(outs) > 1:  # hls4ml merges two tensors at a time
        outs = [keras.layers.Concatenate(name=f"join_{len(outs)}_{k}")(outs[k:k + 2])
                for k in range(0, len(outs), 2)]
    return keras.Model(inp, outs[0])


def _inputs(n: int, t: FixedType, seed: int) -> np.ndarray:
    """Every code in every column, random codes, clusters (small gaps: the whole exp table)
    and the extremes."""
    rng = np.random.default_rng(seed)
    every = np.arange(t.min_code, t.max_code + 1)
    exhaustive = np.stack([rng.permutation(every) for _ in range(n)], axis=1)
    uniform = rng.integers(t.min_code, t.max_code + 1, (4000, n))
    centre = rng.integers(t.min_code, t.max_code + 1, (4000, 1))
    spread = rng.integers(1, 1 << rng.integers(1, t.width, (4000, 1)), (4000, 1))
    cluster = np.clip(centre + rng.integers(-1, 2, (4000, n)) * spread
                      + rng.integers(-3, 4, (4000, n)), t.min_code, t.max_code)
    corners = rng.choice([t.min_code, t.max_code, 0, -1 if t.signed else 1], (500, n))
    return np.concatenate([exhaustive, uniform, cluster, corners]).astype(np.int64)


@dataclass(frozen=True)
class Converted:
    case: Case
    hls_model: Any
    input_type: FixedType
    codes: np.ndarray
    trace: dict[str, np.ndarray]


@pytest.fixture(scope="module", params=[SMALL, WIDE], ids=["n5", "n10"])
def converted(request, tmp_path_factory) -> Converted:  # type: ignore[no-untyped-def]
    """The case's Keras model through hls4ml (Vivado, io_parallel), traced by its C
    simulation on the case's inputs."""
    import hls4ml

    case: Case = request.param
    model = _keras_model(case)
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    layers = config["LayerName"]
    layers["x"]["Precision"]["result"] = case.input_type
    for b in case.branches:
        layers[b.name].update(b.config, Trace=True)
    for name in layers:
        if name.startswith("join"):
            layers[name]["Precision"] = {"result": "fixed<40,20>"}
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, io_type="io_parallel", backend="Vivado",
        output_dir=str(tmp_path_factory.mktemp("hls")))
    t = FixedType.parse(case.input_type)
    codes = _inputs(case.n, t, seed=case.n)
    _, trace = hls_model.trace(np.ascontiguousarray(codes * 2.0 ** -t.frac))
    return Converted(case, hls_model, t, codes, trace)


def _lowered(c: Converted, branch: Branch) -> Graph:
    from kiln.frontend._lower import fixed_type
    from kiln.frontend._lower_tables import lower_lut, lower_softmax

    layer = c.hls_model.graph[branch.name]
    out_t = fixed_type(layer.get_output_variable().type.precision, branch.name)
    shape = (c.case.n,)
    node = (lower_softmax(layer, "x", shape, out_t) if branch.function == "softmax"
            else lower_lut(layer, "x", shape, out_t, branch.function))
    return Graph("tables", (Input("x", "", shape, c.input_type), node))


def _hls_codes(values: np.ndarray, t: FixedType) -> np.ndarray:
    codes = np.round(values * 2.0 ** t.frac).astype(np.int64)
    assert np.array_equal(codes * 2.0 ** -t.frac, values)  # C-sim values are exact codes
    return codes


def _emulate(graph: Graph, work: Path, codes: np.ndarray) -> tuple[np.ndarray, int]:
    from kiln.sim import Emulator

    design = emit_rtl(graph)
    rtl_dir = write_rtl(design, work / "rtl")
    return Emulator.build(rtl_dir, work / "cache").run(codes).codes, design.meta.latency


@pytest.mark.slow  # the C simulation's build alone takes 30-80 s on 2 cores
@pytest.mark.verilator
@pytest.mark.parametrize("index", range(4), ids=[b.name for b in SMALL.branches])
def test_rtl_equals_fixed_and_hls(converted: Converted, index: int, tmp_path: Path) -> None:
    """The lowered node run by kiln.fixed equals the C simulation's trace of the layer, and
    the Verilated RTL equals both, on every input (exhaustive per column plus random,
    clustered and extreme rows)."""
    branch = converted.case.branches[index]
    graph = _lowered(converted, branch)
    node = graph.output
    hls = _hls_codes(converted.trace[branch.name], node.out_type)
    fixed = execute(graph, torch.from_numpy(converted.codes))["output"].numpy()
    assert np.array_equal(fixed, hls)
    assert len(np.unique(hls)) > 20  # the inputs exercise the tables, not one corner
    rtl, _ = _emulate(graph, tmp_path, converted.codes)
    assert np.array_equal(rtl, hls)


# ---- generated modules, without a simulator -------------------------------------------------


def _lut(function: str, in_t: FixedType, out_t: FixedType, size: int = 1024,
         n: int = 2) -> Lut:
    table_t = F(18, 8)
    return Lut("act", "x", (n,), out_t, function=function,
               in_range={"sigmoid": 8, "tanh": 4}[function],
               table=frozen_codes(lut_table(function, size, table_t)), table_type=table_t)


def _softmax(n: int, in_t: FixedType, implementation: str = "stable", size: int = 1024,
             out_t: FixedType = JET_OUT) -> Softmax:
    norm, exp_size = softmax_stable_defaults(in_t, size)
    exp, inv = softmax_tables(implementation, in_t, exp_table_type=RS, inv_table_type=RS,
                              inv_inp_type=RS, exp_table_size=exp_size, inv_table_size=size,
                              inp_norm_type=norm)
    return Softmax("sm", "x", (n,), out_t, implementation=implementation,
                   exp_table=frozen_codes(exp), inv_table=frozen_codes(inv), exp_table_type=RS,
                   inv_table_type=RS, accum_type=RS, inv_inp_type=RS, inp_norm_type=norm)


def test_lut_is_index_then_rom() -> None:
    """Index (clamped) registered, then one registered case ROM per element holding the table
    already cast to the output type: latency 2."""
    node = _lut("sigmoid", F(12, 4), F(8, 0, False, "RND", "SAT"))
    layer = emit_lut(node, F(12, 4), "kiln_act")
    text = layer.module.emit()
    assert layer.latency == 2
    assert text.count("case (a_0)") == text.count("case (a_1)") == 1
    assert len(re.findall(r"^\s+10'd\d+: y_0 <= 8'd\d+;$", text, re.M)) == 1024
    assert "default:" not in text  # 1024 entries fill a 10-bit address
    # fixed<12,4> has 8 fractional bits: index = trunc(x * 1024 / 16) + 512 = trunc(c / 4) + 512
    # (negative codes get 3 first: the division rounds toward zero, as C's int conversion)
    assert "wire signed [11:0] i_0_b = (i_0_p + (i_0_p[11] ? 12'sd3 : 12'sd0));" in text
    assert "wire signed [10:0] i_0_i = ($signed({i_0_b[11], i_0_b[11:2]}) + 11'sd512);" in text


def test_lut_table_not_power_of_two_has_default() -> None:
    text = emit_lut(_lut("tanh", F(8, 3), F(8, 1), size=100), F(8, 3), "kiln_act").module.emit()
    assert len(re.findall(r"^\s+7'd\d+: y_0 <= ", text, re.M)) == 100
    assert "default: y_0 <= 8'sd0;" in text


@pytest.mark.parametrize(("n", "max_stages", "sum_stages"), [
    (1, 0, 0), (2, 1, 1), (4, 1, 1), (5, 2, 2), (8, 2, 2), (10, 2, 2), (16, 2, 2), (17, 3, 3),
])
def test_softmax_latency(n: int, max_stages: int, sum_stages: int) -> None:
    """Stages: the max tree (two levels a stage), the address, the exp ROM, the sum tree, the
    inverse ROM (its address is only wiring when accum_t is inv_inp_t) and the product; the
    output cast of the jet tagger's types is only wiring."""
    layer = emit_softmax(_softmax(n, F(18, 7)), F(18, 7), "kiln_sm")
    assert layer.latency == max_stages + 1 + 1 + sum_stages + 1 + 1
    text = layer.module.emit()
    assert text.count("case (e_") == n and text.count("case (inv_n[17:8])") == 1


def test_softmax_text() -> None:
    """Two inputs and four-entry tables, every stage visible: max (registered), x_max - x_i
    cast to inp_norm_t = ufixed<3,0> whose top two bits are registered as the exp ROM's
    address, the exp ROM (already in accum_t), the saturating sum (registered), the sum cast
    to inv_inp_t (RND: logic, so its top bits are registered), the inverse ROM, the product
    registered and cast (RND, SAT) into a register: latency 8."""
    in_t = F(4, 1)
    norm, exp_size = softmax_stable_defaults(in_t, 4)
    exp_t, inv_t = F(4, 1, False, "RND", "SAT"), F(4, 2, False, "RND", "SAT")
    acc, inv_inp = F(5, 2, True, "RND", "SAT"), F(3, 2, False, "RND", "SAT")
    exp, inv = softmax_tables("stable", in_t, exp_table_type=exp_t, inv_table_type=inv_t,
                              inv_inp_type=inv_inp, exp_table_size=exp_size,
                              inv_table_size=4, inp_norm_type=norm)
    assert (norm, exp.tolist(), inv.tolist()) == (F(3, 0, False), [8, 6, 5, 4], [15, 4, 2, 1])
    node = Softmax("sm", "x", (2,), F(4, 0, False, "RND", "SAT"), exp_table=frozen_codes(exp),
                   inv_table=frozen_codes(inv), exp_table_type=exp_t, inv_table_type=inv_t,
                   accum_type=acc, inv_inp_type=inv_inp, inp_norm_type=norm)
    layer = emit_softmax(node, in_t, "kiln_sm")
    assert layer.latency == 8
    assert " ".join(layer.module.emit().split()) == " ".join("""
        // kiln.rtl: layer 'sm' (softmax), 2 x fixed<4,1,TRN,WRAP> -> 2 x ufixed<4,0,RND,SAT>.
        // Generated; do not edit.
        `default_nettype none
        module kiln_sm (
          input  wire clk,
          input  wire ce,
          input  wire [7:0] x,
          output wire [7:0] y
        );

          wire signed [3:0] max_0_2 = (($signed(x[3:0]) < $signed(x[7:4])) ?
            $signed(x[7:4]) : $signed(x[3:0]));
          reg signed [3:0] max_q;
          reg signed [3:0] x_0_d0;
          wire signed [4:0] d_0 = ($signed({max_q[3], max_q}) - $signed({x_0_d0[3], x_0_d0}));
          reg signed [3:0] x_1_d0;
          wire signed [4:0] d_1 = ($signed({max_q[3], max_q}) - $signed({x_1_d0[3], x_1_d0}));
          wire [2:0] e_0_n = d_0[2:0];
          reg [1:0] e_0_a;
          reg signed [4:0] e_0;
          wire [2:0] e_1_n = d_1[2:0];
          reg [1:0] e_1_a;
          reg signed [4:0] e_1;
          wire signed [5:0] sum_0_2_sum = ($signed({e_0[4], e_0}) + $signed({e_1[4], e_1}));
          wire signed [4:0] sum_0_2 = ((sum_0_2_sum > 6'sd15) ? 5'sd15 : $signed(sum_0_2_sum[4:0]));
          reg signed [4:0] sum_q;
          wire signed [3:0] inv_n_r = ($signed({sum_q[4], sum_q[4:2]}) + $signed({3'd0, sum_q[1]}));
          wire [2:0] inv_n = inv_n_r[2:0];
          reg [1:0] inv_a;
          reg [3:0] inv;
          reg signed [4:0] e_0_d0;
          reg signed [4:0] e_0_d1;
          reg signed [4:0] e_0_d2;
          reg signed [7:0] p_0;
          wire signed [6:0] y_0_r = ($signed(p_0[7:1]) + $signed({6'd0, p_0[0]}));
          reg [3:0] y_0;
          reg signed [4:0] e_1_d0;
          reg signed [4:0] e_1_d1;
          reg signed [4:0] e_1_d2;
          reg signed [7:0] p_1;
          wire signed [6:0] y_1_r = ($signed(p_1[7:1]) + $signed({6'd0, p_1[0]}));
          reg [3:0] y_1;

          assign y = {y_1, y_0};

          always @(posedge clk) begin
            if (ce) begin
              max_q <= max_0_2;
              x_0_d0 <= $signed(x[3:0]);
              x_1_d0 <= $signed(x[7:4]);
              e_0_a <= e_0_n[2:1];
              e_1_a <= e_1_n[2:1];
              sum_q <= sum_0_2;
              inv_a <= inv_n[2:1];
              e_0_d0 <= e_0;
              e_0_d1 <= e_0_d0;
              e_0_d2 <= e_0_d1;
              p_0 <= ($signed({{3{e_0_d2[4]}}, e_0_d2}) * $signed({4'd0, inv}));
              y_0 <= ((y_0_r > 7'sd15) ? 4'd15 : y_0_r[3:0]);
              e_1_d0 <= e_1;
              e_1_d1 <= e_1_d0;
              e_1_d2 <= e_1_d1;
              p_1 <= ($signed({{3{e_1_d2[4]}}, e_1_d2}) * $signed({4'd0, inv}));
              y_1 <= ((y_1_r > 7'sd15) ? 4'd15 : y_1_r[3:0]);
            end
          end

          always @(posedge clk) begin
            if (ce) begin
              case (e_0_a)
                2'd0: e_0 <= 5'sd8;
                2'd1: e_0 <= 5'sd6;
                2'd2: e_0 <= 5'sd5;
                2'd3: e_0 <= 5'sd4;
              endcase
            end
          end

          always @(posedge clk) begin
            if (ce) begin
              case (e_1_a)
                2'd0: e_1 <= 5'sd8;
                2'd1: e_1 <= 5'sd6;
                2'd2: e_1 <= 5'sd5;
                2'd3: e_1 <= 5'sd4;
              endcase
            end
          end

          always @(posedge clk) begin
            if (ce) begin
              case (inv_a)
                2'd0: inv <= 4'd15;
                2'd1: inv <= 4'd4;
                2'd2: inv <= 4'd2;
                2'd3: inv <= 4'd1;
              endcase
            end
          end

          wire _unused_ok = &{
            1'b0, d_0[4:3], d_1[4:3], e_0_n[0], e_1_n[0], sum_q[0], inv_n_r[3], inv_n[0], 1'b0
          };
        endmodule
        `default_nettype wire
    """.split())


def test_softmax_latency_implementation_reads_the_input() -> None:
    """'latency': no max tree; the input's top bits address the exp ROM directly."""
    in_t = F(8, 3, False)
    layer = emit_softmax(_softmax(3, in_t, "latency", size=256), in_t, "kiln_sm")
    text = layer.module.emit()
    assert "max_" not in text
    assert "wire [7:0] e_0_n = x[7:0];" in text and "case (e_0_n)" in text
    assert layer.latency == 1 + 1 + 1 + 1  # exp ROM, sum tree, inverse ROM, product


def test_softmax_refuses_unknown_implementation() -> None:
    from dataclasses import replace

    from kiln.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match="'legacy'"):
        emit_softmax(replace(_softmax(3, F(8, 3)), implementation="legacy"), F(8, 3), "kiln_sm")


@pytest.mark.verilator
def test_tables_lint_clean(tmp_path: Path, verilator) -> None:  # type: ignore[no-untyped-def]
    """A Lut with a 100-entry table feeding a softmax: ``verilator --lint-only -Wall``."""
    from dataclasses import replace

    lut = _lut("tanh", F(10, 4), F(8, 1), size=100, n=5)
    softmax = replace(_softmax(5, F(8, 1), size=256, out_t=F(8, 0, False, "RND", "SAT")),
                      source="act")
    graph = Graph("tables", (Input("x", "", (5,), F(10, 4)), lut, softmax))
    assert "%Warning" not in verilator.lint(write_rtl(emit_rtl(graph), tmp_path))


@pytest.mark.verilator
@pytest.mark.parametrize(("function", "in_t"), [
    ("sigmoid", F(40, 38)),  # x * T / 16 passes 2**31: C's int wraps, and so must the RTL
    pytest.param("tanh", F(6, 7), marks=pytest.mark.slow),  # negative fractional bits: the
    # input is scaled up, not down (slow only to keep `make test` short: a Verilator build)
])
def test_lut_unusual_inputs_equal_fixed(function: str, in_t: FixedType, tmp_path: Path) -> None:
    node = _lut(function, in_t, F(12, 2, True, "RND", "SAT"), n=2)
    graph = Graph("lut", (Input("x", "", (2,), in_t), node))
    rng = np.random.default_rng(7)
    codes = np.concatenate([rng.integers(in_t.min_code, in_t.max_code + 1, (3000, 2)),
                            rng.integers(-(1 << 12), 1 << 12, (3000, 2)).clip(in_t.min_code,
                                                                              in_t.max_code)])
    fixed = execute(graph, torch.from_numpy(codes))["output"].numpy()
    rtl, latency = _emulate(graph, tmp_path, codes)
    assert latency == 2 and np.array_equal(rtl, fixed)
    assert len(np.unique(fixed)) > 4  # not only the clamped ends


@pytest.mark.verilator
@pytest.mark.parametrize(("n", "in_t", "implementation"), [
    (10, F(10, 4), "stable"),  # a reduce tree that is not a power of two
    pytest.param(3, F(8, 3, False), "latency", marks=pytest.mark.slow),  # (a Verilator build)
])
def test_softmax_equals_fixed(n: int, in_t: FixedType, implementation: str,
                              tmp_path: Path) -> None:
    """An accumulator the sum overflows to zero (so the tree's grouping decides the result)
    and a rounding, saturating output cast; inputs clustered and spread."""
    acc = F(10, 3, True, "RND", "SAT_ZERO")
    norm, exp_size = softmax_stable_defaults(in_t, 256)
    exp_t, inv_t, inv_inp_t = F(10, 1, False, "RND", "SAT"), F(12, 4, False, "RND", "SAT"), \
        F(8, 3, False, "RND", "SAT")
    exp, inv = softmax_tables(implementation, in_t, exp_table_type=exp_t, inv_table_type=inv_t,
                              inv_inp_type=inv_inp_t, exp_table_size=exp_size,
                              inv_table_size=256, inp_norm_type=norm)
    node = Softmax("sm", "x", (n,), F(10, 0, False, "RND", "SAT"),
                   implementation=implementation, exp_table=frozen_codes(exp),
                   inv_table=frozen_codes(inv), exp_table_type=exp_t, inv_table_type=inv_t,
                   accum_type=acc, inv_inp_type=inv_inp_t, inp_norm_type=norm)
    graph = Graph("softmax", (Input("x", "", (n,), in_t), node))
    codes = _inputs(n, in_t, seed=n)
    fixed = execute(graph, torch.from_numpy(codes))["output"].numpy()
    rtl, _ = _emulate(graph, tmp_path, codes)
    assert np.array_equal(rtl, fixed)
    assert len(np.unique(fixed)) > 20
