"""Binary and ternary thresholds (kiln IR SignThreshold, hls4ml's normalize_ternary_tanh):
kiln.fixed's step against the formula read with numpy, the IR check's refusals, the emitted
module (its text, the comparisons that fold to constants, latency 1, its cost, io_stream's
refusal of thresholds that differ from pixel to pixel), and the Verilated RTL equal to
kiln.fixed, code for code, on every code of the input type in every element: binary and
ternary, one threshold, one pair per channel, one per element, thresholds at the type's
ends, io_parallel and io_stream, alone and between Dense layers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from kiln.errors import KilnError, PrecisionError, UnsupportedLayerError
from kiln.fixed import execute
from kiln.fixed._rectifiers import sign_threshold_step
from kiln.ir import (
    SIGN_TYPE,
    Cast,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    SignThreshold,
    check_graph,
    frozen_codes,
)
from kiln.rtl import emit_rtl, estimate, write_rtl
from kiln.rtl._sign import comparators, comparisons, emit_sign_threshold

if TYPE_CHECKING:
    from tests.rtl.conftest import Verilator

F = FixedType
Codes = NDArray[Any]
IN = F(8, 3)  # 256 codes, -128 .. 127


def _sign(shape: tuple[int, ...], upper: list[int], lower: list[int], source: str = "x",
          name: str = "sign") -> SignThreshold:
    return SignThreshold(name, source, shape, SIGN_TYPE, upper=frozen_codes(upper),
                         lower=frozen_codes(lower))


def _every_code(t: FixedType, shape: tuple[int, ...], seed: int) -> Codes:
    """Every code of ``t`` in every element (a shuffle per element): (codes, *shape)."""
    rng = np.random.default_rng(seed)
    every = np.arange(t.min_code, t.max_code + 1)
    size = int(np.prod(shape))
    codes: Codes = np.stack([rng.permutation(every) for _ in range(size)], axis=1)
    return codes.reshape(-1, *shape)


def _formula(x: Codes, upper: list[int], lower: list[int]) -> Codes:
    """``(x > upper_i) - (x <= lower_i)`` with element ``i`` of a row reading ``[i % L]``."""
    flat = x.reshape(len(x), -1)
    index = np.arange(flat.shape[1])
    up, lo = np.array(upper)[index % len(upper)], np.array(lower)[index % len(lower)]
    signs: Codes = (flat > up).astype(np.int64) - (flat <= lo).astype(np.int64)
    return signs


def _fixed(graph: Graph, codes: Codes) -> Codes:
    out: Codes = execute(graph, torch.from_numpy(codes))["output"].numpy()
    return out.reshape(len(codes), -1)


def _emulate(graph: Graph, work: Path, codes: Codes) -> Codes:
    from kiln.sim import Emulator

    rtl_dir = write_rtl(emit_rtl(graph), work / "rtl")
    out: Codes = Emulator.build(rtl_dir, work / "cache").run(codes).codes
    return out.reshape(len(codes), -1)


def _norm(text: str) -> str:
    return " ".join(text.split())


# ---- kiln.fixed and the IR check ---------------------------------------------------------


@pytest.mark.parametrize("length", [1, 4, 24])
def test_fixed_step_is_the_formula(length: int) -> None:
    """kiln.fixed's step (and execute) equal the formula on every code of fixed<6,2> in each
    of 2x3x4 elements, for one ternary pair, a pair per channel and a pair per element,
    every other pair binary; binary elements never give 0, ternary ones give all three."""
    t = F(6, 2)
    rng = np.random.default_rng(length)
    lower = rng.integers(t.min_code, t.max_code, length)
    upper = rng.integers(lower + 1, t.max_code + 1)  # ternary: lower < upper
    upper[1::2] = lower[1::2]  # every other pair binary
    node = _sign((2, 3, 4), upper.tolist(), lower.tolist())
    graph = check_graph(Graph("g", (Input("x", "", (2, 3, 4), t), node)))
    x = _every_code(t, (2, 3, 4), seed=length)
    expected = _formula(x, upper.tolist(), lower.tolist())
    step = sign_threshold_step(node, "cpu")(torch.from_numpy(x.reshape(len(x), -1))).numpy()
    assert np.array_equal(step, expected)
    assert np.array_equal(_fixed(graph, x), expected)
    binary = (np.arange(24) % length) % 2 == 1
    assert set(np.unique(expected[:, binary])) == ({-1, 1} if length > 1 else set())
    assert set(np.unique(expected[:, ~binary])) == {-1, 0, 1}


def test_check_refuses_bad_thresholds() -> None:
    """The IR check refuses lower above upper, thresholds outside the input type, a length
    that is not 1, the channels or the size, and a result type other than int<2>."""
    x = Input("x", "", (2, 3), IN)

    def check(node: Node) -> None:
        check_graph(Graph("g", (x, node)))

    check(_sign((2, 3), [IN.max_code], [IN.min_code]))  # the type's ends are codes of it
    with pytest.raises(KilnError, match="lower thresholds must .* lie at or below"):
        check(_sign((2, 3), [4, 5, 6], [4, 6, 6]))
    with pytest.raises(PrecisionError, match=r"upper thresholds \[0, 128\] lie outside .*Fix:"):
        check(_sign((2, 3), [0, 128, 0], [0, 0, 0]))
    with pytest.raises(PrecisionError, match=r"lower thresholds \[-129, -129\] lie outside"):
        check(_sign((2, 3), [0], [-129]))
    with pytest.raises(KilnError, match=r"upper of shape \(2,\); it must hold 1 or 3 or 6"):
        check(_sign((2, 3), [1, 2], [0]))
    with pytest.raises(KilnError, match="its result is fixed<2,2"):
        check(SignThreshold("sign", "x", (2, 3), F(3, 3), upper=frozen_codes([0]),
                            lower=frozen_codes([0])))


# ---- the module, without a simulator -----------------------------------------------------

LO, HI = IN.min_code, IN.max_code
#: (upper, lower) of each element of the folding test, and what the element builds.
FOLDING = [
    ((HI, HI), "constant -1"),  # x <= HI always
    ((HI, LO), "x <= LO only"),  # x > HI never
    ((5, -3), "both comparisons"),
    ((3, 3), "one comparison (binary)"),
    ((HI + 4, LO - 4), "constant 0 (beyond both ends)"),
    ((LO - 1, LO - 2), "constant +1 (below the type)"),
    ((LO, LO), "one comparison (binary at the bottom)"),
]


def test_module_text() -> None:
    """A ternary element as two comparisons, a binary one as one (its low bit is 1), and an
    element whose comparisons are constant as a constant without a register."""
    node = _sign((3,), [5, 3, HI], [-3, 3, HI])
    layer = emit_sign_threshold(node, IN, "kiln_sign")
    assert layer.latency == 1
    assert _norm(layer.module.emit()) == _norm("""
        // kiln.rtl: layer 'sign' (sign_threshold), 3 x fixed<8,3,TRN,WRAP> -> 3 x
           fixed<2,2,TRN,WRAP>.
        // Generated; do not edit.
        `default_nettype none
        module kiln_sign (
          input  wire clk,
          input  wire ce,
          input  wire [23:0] x,
          output wire [5:0] y
        );
          reg [1:0] y_0;
          reg [1:0] y_1;
          assign y = {(-2'sd1), y_1, y_0};
          always @(posedge clk) begin
            if (ce) begin
              y_0 <= {($signed(x[7:0]) < (-8'sd2)),
                      (($signed(x[7:0]) > 8'sd5) | ($signed(x[7:0]) < (-8'sd2)))};
              y_1 <= {($signed(x[15:8]) < 8'sd4), 1'd1};
            end
          end
          wire _unused_ok = &{
            1'b0, x[23:16], 1'b0
          };
        endmodule
        `default_nettype wire
    """)


def test_comparisons_at_the_ends_fold() -> None:
    """A comparison whose answer is the same on every code of the type is a constant (the
    emitter folds thresholds beyond the type too, which the IR check refuses); an element
    left without a comparison has no register."""
    node = _sign((len(FOLDING),), [u for (u, _), _ in FOLDING], [lo for (_, lo), _ in FOLDING])
    assert [comparisons(u, lo, IN) for (u, lo), _ in FOLDING] == [
        (False, True), (False, None), (None, None), (None, None), (False, False),
        (True, False), (None, None)]
    assert [comparators(u, lo, IN) for (u, lo), _ in FOLDING] == [0, 1, 2, 1, 0, 0, 1]
    module = emit_sign_threshold(node, IN, "kiln_sign").module
    assert [r.q.name for r in module.registers] == ["y_1", "y_2", "y_3", "y_6"]
    assert "assign y = {y_6, 2'sd1, 2'sd0, y_3, y_2, y_1, (-2'sd1)};" in module.emit()
    # each register's distinct comparisons are the element's comparators
    built = {int(r.q.name[2:]): len(set(re.findall(r"\) ([<>]) ", r.d.text)))
             for r in module.registers}
    assert built == {i: comparators(u, lo, IN) for i, ((u, lo), _) in enumerate(FOLDING)
                     if comparators(u, lo, IN)}


def test_cost_counts_the_comparators_left() -> None:
    """Per element a LUT4 per input bit and a register for each comparison left; in
    io_stream, one pixel's channels."""
    clipped = [(min(max(u, LO), HI), min(max(lo, LO), HI)) for (u, lo), _ in FOLDING]
    node = _sign((len(FOLDING),), [u for u, _ in clipped], [lo for _, lo in clipped])
    graph = Graph("g", (Input("x", "", node.shape, IN), node))
    cost = estimate(check_graph(graph))["sign"]
    # the clipped thresholds: (HI, LO) -> 1, (HI, LO) again for the two beyond the type,
    # (LO, LO) for the one below it -> 1
    built = [0, 1, 2, 1, 1, 1, 1]
    assert [comparators(*node.thresholds_at(i), IN) for i in range(node.size)] == built
    assert (cost.lut4, cost.ff) == (sum(built) * IN.width, sum(built))
    image = _sign((4, 4, 3), [5, HI, 0], [-3, HI, 0])
    stream = Graph("s", (Input("x", "", (4, 4, 3), IN), image), "io_stream")
    cost = estimate(check_graph(stream))["sign"]
    assert (cost.lut4, cost.ff) == ((2 + 0 + 1) * IN.width, 2 + 0 + 1)


def test_stream_refuses_thresholds_that_differ_per_pixel() -> None:
    """io_stream builds one pixel's channels: per-element thresholds that differ between
    pixels are refused with the fix; ones that repeat from pixel to pixel, one pair per
    channel and one pair build."""
    from kiln.rtl._stream import STREAM

    x = Input("x", "", (2, 2, 3), IN)
    upper = list(range(12))
    per_element = _sign((2, 2, 3), upper, [u - 1 for u in upper])
    with pytest.raises(UnsupportedLayerError,
                       match="12 thresholds differ from pixel to pixel.*Fix: compile with "
                             "io_type='io_parallel'"):
        STREAM.emitter(per_element)(per_element, x, "kiln_sign")
    lower_differs = _sign((2, 2, 3), [9] * 12, [1, 2, 3] * 3 + [1, 2, 4])
    with pytest.raises(UnsupportedLayerError, match="differ from pixel to pixel"):
        STREAM.emitter(lower_differs)(lower_differs, x, "kiln_sign")
    for node in (_sign((2, 2, 3), [4, 5, 6] * 4, [1, 2, 3] * 4),
                 _sign((2, 2, 3), [4, 5, 6], [1, 2, 3]), _sign((2, 2, 3), [4], [4])):
        stages = STREAM.emitter(node)(node, x, "kiln_sign")
        assert [s.latency for s in stages] == [1]


# ---- Verilated RTL against kiln.fixed ----------------------------------------------------


@pytest.mark.verilator
def test_every_code_per_element_thresholds(tmp_path: Path, verilator: Verilator) -> None:
    """io_parallel, a pair per element: ternary, binary, neighbours (lower = upper - 1) and
    every way a threshold can sit at an end of fixed<8,3>; every code of the type in every
    element, so x == upper, x == lower and both ends are among the inputs. The RTL equals
    kiln.fixed and the formula, and lints clean."""
    pairs = [(5, -3), (3, 3), (0, -1), (HI, HI), (HI, LO), (LO, LO), (LO + 1, LO), (HI, HI - 1),
             (HI - 1, HI - 1), (HI, 0), (0, LO), (-40, -90)]
    upper, lower = [u for u, _ in pairs], [lo for _, lo in pairs]
    graph = check_graph(Graph("sign", (Input("x", "", (len(pairs),), IN),
                                       _sign((len(pairs),), upper, lower))))
    codes = _every_code(IN, (len(pairs),), seed=1)
    expected = _formula(codes, upper, lower)
    assert np.array_equal(_fixed(graph, codes), expected)
    assert np.array_equal(_emulate(graph, tmp_path, codes), expected)
    assert set(np.unique(expected[:, 1])) == {-1, 1}  # binary: never 0
    assert set(np.unique(expected[:, 0])) == {-1, 0, 1}
    assert "%Warning" not in verilator.lint(tmp_path / "rtl")


@pytest.mark.verilator
def test_between_dense_layers_one_threshold(tmp_path: Path) -> None:
    """Input fixed<10,4> -> Cast -> Dense -> one ternary pair -> Dense reading the +-1
    codes (a binary network's chain), io_parallel: every input code in every element; the
    RTL's thresholds (all three codes among them) and its last Dense equal kiln.fixed's."""
    in_t = F(10, 4)
    cast = Cast("cast", "x", (4,), F(8, 3, True, "RND", "SAT"))
    rng = np.random.default_rng(5)
    fc1 = Dense("fc1", "cast", (3,), F(9, 4, True, "RND", "SAT"),
                weight=frozen_codes(rng.integers(-3, 4, (4, 3))),
                bias=frozen_codes([1, -2, 0]), weight_type=F(3, 1), bias_type=F(4, 2),
                accum_type=F(16, 8))
    sign = _sign((3,), [10], [-7], source="fc1")
    fc2 = Dense("fc2", "sign", (2,), F(8, 5, True, "RND", "SAT"),
                weight=frozen_codes([[3, -2], [-1, 2], [2, 1]]), bias=frozen_codes([1, 0]),
                weight_type=F(3, 1), bias_type=F(4, 2), accum_type=F(12, 6))
    x = Input("x", "", (4,), in_t)
    head = check_graph(Graph("head", (x, cast, fc1, sign)))
    graph = check_graph(Graph("chain", (x, cast, fc1, sign, fc2)))
    codes = _every_code(in_t, (4,), seed=2)
    sums = execute(graph, torch.from_numpy(codes), trace=True)["fc1"].numpy()
    signs = _fixed(head, codes)
    assert np.array_equal(signs, _formula(sums, [10], [-7]))
    assert set(np.unique(signs)) == {-1, 0, 1}
    assert np.array_equal(_emulate(head, tmp_path / "head", codes), signs)
    assert np.array_equal(_emulate(graph, tmp_path / "chain", codes), _fixed(graph, codes))


@pytest.mark.verilator
@pytest.mark.parametrize(("io_type", "per"), [("io_parallel", "channel"),
                                              ("io_stream", "channel"),
                                              ("io_stream", "element")])
def test_image_per_channel_thresholds(tmp_path: Path, io_type: str, per: str) -> None:
    """A 4x4x3 image of fixed<8,3>, a pair per channel (a binary one, a ternary one, one at
    the type's top), or per element repeating from pixel to pixel, then a Dense over the
    whole image's +-1 codes: every code in every element, the thresholds' outputs and the
    Dense's equal to kiln.fixed, in io_parallel and io_stream (one pixel a beat)."""
    upper, lower = [12, -20, HI], [12, -45, LO]
    if per == "element":
        upper, lower = upper * 16, lower * 16
    sign = _sign((4, 4, 3), upper, lower)
    weight = np.random.default_rng(6).integers(-3, 4, (48, 2))
    fc = Dense("fc", "sign", (2,), F(10, 7, True, "RND", "SAT"), weight=frozen_codes(weight),
               bias=frozen_codes([0, 1]), weight_type=F(3, 1), bias_type=F(4, 2),
               accum_type=F(16, 8))
    shape = (4, 4, 3)
    head = check_graph(Graph("image", (Input("x", "", shape, IN), sign), io_type))
    graph = check_graph(Graph("image", (Input("x", "", shape, IN), sign, fc), io_type))
    codes = _every_code(IN, shape, seed=3)
    expected = _formula(codes, upper, lower)
    assert np.array_equal(_fixed(head, codes), expected)
    assert np.array_equal(_emulate(head, tmp_path / "head", codes), expected)
    assert np.array_equal(_emulate(graph, tmp_path / "fc", codes), _fixed(graph, codes))
