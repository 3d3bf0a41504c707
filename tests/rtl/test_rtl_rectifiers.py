"""Leaky ReLU, thresholded ReLU, PReLU and ELU (kiln IR LeakyRelu and Elu) lowered from real
hls4ml layers: the Verilated RTL (io_parallel and io_stream) equal to kiln.fixed and to
hls4ml's C simulation, code for code, on every input code; inputs exactly at the threshold
and products on a rounding boundary are among them, and the test shows that a ``>=`` for
``>`` or a truncation for the rounding would have failed it. Without a simulator: the
emitted modules' latency and the refusal of a slope per pixel in io_stream."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln.errors import UnsupportedLayerError
from kiln.fixed import elu_table, execute, from_float
from kiln.ir import Elu, FixedType, Graph, Input, LeakyRelu, Node, frozen_codes
from kiln.rtl import emit_rtl, write_rtl
from kiln.rtl._rectifiers import emit_elu, emit_leaky_relu

F = FixedType
N = 4  # inputs; every branch reads all of them
INPUT = "fixed<10,4>"  # 1,024 codes: each column takes every one
PRELU_SLOPES = (0.3, -0.55, 1.7, 0.0)
# name -> (Keras layer, hls4ml layer config). Rounding results make the cast of alpha * x
# matter; the thresholded ReLU's theta is a code of its input type, so x == theta occurs.
BRANCHES: dict[str, tuple[str, dict[str, Any]]] = {
    "leaky": ("LeakyReLU", dict(Precision={"result": "fixed<8,3,RND,SAT>",
                                           "param": "fixed<6,1,RND>"})),
    "thresh": ("ThresholdedReLU", dict(Precision={"result": "fixed<10,4>",
                                                  "param": "fixed<10,4>"})),
    "elu": ("ELU", dict(Precision={"result": "fixed<10,3,RND_CONV,SAT>",
                                   "param": "ufixed<4,0>"}, TableSize=512,
                        table_t="fixed<14,2,RND>")),
    "elu_default": ("elu", {}),  # Activation("elu"): hls4ml's default types and table
    "prelu": ("PReLU", dict(Precision={"result": "fixed<9,4,RND_ZERO,SAT>",
                                       "param": "fixed<8,1,RND>"})),
}


def _keras_model() -> Any:
    from tensorflow import keras

    inp = keras.Input((N,), name="x")
    layers = {
        "leaky": keras.layers.LeakyReLU(alpha=0.3, name="leaky"),
        "thresh": keras.layers.ThresholdedReLU(theta=0.75, name="thresh"),
        "elu": keras.layers.ELU(alpha=0.5, name="elu"),
        "elu_default": keras.layers.Activation("elu", name="elu_default"),
        "prelu": keras.layers.PReLU(name="prelu", alpha_initializer=keras.initializers.Constant(
            np.array(PRELU_SLOPES))),
    }
    outs = [layer(inp) for layer in layers.values()]
    while len(outs) > 1:  # hls4ml merges two tensors at a time
        outs = [keras.layers.Concatenate(name=f"join_{len(outs)}_{k}")(outs[k:k + 2])
                if k + 1 < len(outs) else outs[k] for k in range(0, len(outs), 2)]
    return keras.Model(inp, outs[0])


def _inputs(t: FixedType) -> np.ndarray:
    """Every code in every column (shuffled per column), and the extremes together."""
    rng = np.random.default_rng(14)
    every = np.arange(t.min_code, t.max_code + 1)
    exhaustive = np.stack([rng.permutation(every) for _ in range(N)], axis=1)
    corners = np.array([[t.min_code] * N, [t.max_code] * N, [0] * N, [-1] * N])
    return np.concatenate([exhaustive, corners]).astype(np.int64)


@dataclass(frozen=True)
class Converted:
    hls_model: Any
    input_type: FixedType
    codes: np.ndarray
    trace: dict[str, np.ndarray]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """The Keras model through hls4ml (Vivado, io_parallel), traced by its C simulation."""
    import hls4ml

    model = _keras_model()
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    layers = config["LayerName"]
    layers["x"]["Precision"]["result"] = INPUT
    for name, (_, settings) in BRANCHES.items():
        precision = {**layers[name].get("Precision", {}), **settings.get("Precision", {})}
        layers[name].update(settings, Precision=precision, Trace=True)
    for name in layers:
        if name.startswith("join"):
            layers[name]["Precision"] = {"result": "fixed<40,20>"}
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, io_type="io_parallel", backend="Vivado",
        output_dir=str(tmp_path_factory.mktemp("hls")))
    t = FixedType.parse(INPUT)
    codes = _inputs(t)
    _, trace = hls_model.trace(np.ascontiguousarray(codes * 2.0 ** -t.frac))
    return Converted(hls_model, t, codes, trace)


def _lowered(c: Converted, name: str, io_type: str = "io_parallel") -> Graph:
    from kiln.frontend._lower import fixed_type
    from kiln.frontend._lower_rectifiers import lower_rectifier

    layer = c.hls_model.graph[name]
    out_t = fixed_type(layer.get_output_variable().type.precision, name)
    node = lower_rectifier(layer, "x", (N,), out_t)
    return Graph("rectifiers", (Input("x", "", (N,), c.input_type), node), io_type)


def _hls_codes(values: np.ndarray, t: FixedType) -> np.ndarray:
    codes = np.round(values * 2.0 ** t.frac).astype(np.int64)
    assert np.array_equal(codes * 2.0 ** -t.frac, values)  # C-sim values are exact codes
    return codes


def _fixed(graph: Graph, codes: np.ndarray) -> np.ndarray:
    return execute(graph, torch.from_numpy(codes))["output"].numpy()


def _emulate(graph: Graph, work: Path, codes: np.ndarray) -> np.ndarray:
    from kiln.sim import Emulator

    rtl_dir = write_rtl(emit_rtl(graph), work / "rtl")
    return Emulator.build(rtl_dir, work / "cache").run(codes).codes


def _differs(graph: Graph, node: Node, hls: np.ndarray, codes: np.ndarray) -> bool:
    """Whether ``graph`` with its output node replaced by ``node`` disagrees with hls4ml."""
    mutated = replace(graph, nodes=(graph.nodes[0], node))
    return not np.array_equal(_fixed(mutated, codes), hls)


@pytest.mark.slow  # the C simulation's build alone takes 30-80 s on 2 cores
@pytest.mark.verilator
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("name", list(BRANCHES))
def test_rtl_equals_fixed_and_hls(converted: Converted, name: str, io_type: str,
                                  tmp_path: Path) -> None:
    """kiln.fixed equals the C simulation's trace of the layer on every input, and the
    Verilated RTL (one beat per sample, or one pixel per beat) equals both."""
    graph = _lowered(converted, name, io_type)
    node = graph.output
    hls = _hls_codes(converted.trace[name], node.out_type)
    assert len(converted.codes) >= 300
    assert np.array_equal(_fixed(graph, converted.codes), hls)
    assert len(np.unique(hls)) > 20  # the inputs reach both branches, not one corner
    assert np.array_equal(_emulate(graph, tmp_path, converted.codes), hls)


@pytest.mark.slow
def test_the_comparison_and_rounding_are_pinned(converted: Converted) -> None:
    """The inputs decide between hls4ml's ``>`` and ``>=``, its ``>=`` (ELU) and ``>``, and
    the rounding of ``alpha * x`` and of alpha: a kiln that got any of them wrong would
    disagree with the C simulation on some of these inputs."""
    codes = converted.codes
    thresh = _lowered(converted, "thresh")
    node = thresh.output
    assert isinstance(node, LeakyRelu) and node.threshold == 48  # 0.75 in fixed<10,4>
    hls = _hls_codes(converted.trace["thresh"], node.out_type)
    at_theta = codes == node.threshold
    assert at_theta.any() and np.all(hls[at_theta] == 0)  # x == theta gives 0: strict >
    assert _differs(thresh, replace(node, threshold=node.threshold - 1), hls, codes)  # >=

    leaky = _lowered(converted, "leaky")
    node = leaky.output
    assert isinstance(node, LeakyRelu) and node.alpha.tolist() == [10]  # 0.3 rounds to 10/32
    hls = _hls_codes(converted.trace["leaky"], node.out_type)
    product = codes * 10  # 11 fractional bits; the result keeps 5: half is 32 of 64
    assert np.any((codes < 0) & (product % 64 == 32))
    truncating = replace(node.out_type, rounding="TRN")
    assert _differs(leaky, replace(node, out_type=truncating), hls, codes)
    assert _differs(leaky, replace(node, alpha=frozen_codes([9])), hls, codes)  # 0.3 floored

    prelu = _lowered(converted, "prelu")
    node = prelu.output
    assert isinstance(node, LeakyRelu)
    hls = _hls_codes(converted.trace["prelu"], node.out_type)
    floored = from_float(torch.tensor(PRELU_SLOPES, dtype=torch.float64),
                         replace(node.alpha_type, rounding="TRN")).numpy()
    assert node.alpha.tolist() != floored.tolist()
    assert _differs(prelu, replace(node, alpha=frozen_codes(floored)), hls, codes)

    elu = _lowered(converted, "elu")
    node = elu.output
    assert isinstance(node, Elu)
    hls = _hls_codes(converted.trace["elu"], node.out_type)
    shifted = np.concatenate([node.table[1:], node.table[-1:]])  # an index one too high
    assert _differs(elu, replace(node, table=frozen_codes(shifted)), hls, codes)


# ---- without a simulator ----------------------------------------------------------------


def _leaky(shape: tuple[int, ...], alpha: list[int]) -> LeakyRelu:
    return LeakyRelu("act", "x", shape, F(8, 3, True, "RND", "SAT"),
                     alpha=frozen_codes(alpha), alpha_type=F(6, 1), threshold=0,
                     threshold_type=F(6, 1))


def test_latencies() -> None:
    """A LeakyRelu is one registered cast; an Elu registers its index, then its ROM; an Elu
    whose input has no negative codes is only the cast."""
    assert emit_leaky_relu(_leaky((3,), [5]), F(10, 4), "kiln_act").latency == 1
    table_t = F(14, 2, True, "RND")
    elu = Elu("act", "x", (3,), F(10, 3), table=frozen_codes(elu_table(64, table_t)),
              table_type=table_t, alpha=8, alpha_type=F(4, 0, False))
    assert emit_elu(elu, F(10, 4), "kiln_act").latency == 2
    assert emit_elu(elu, F(10, 4, False), "kiln_act").latency == 1


def test_stream_refuses_a_slope_per_pixel() -> None:
    """io_stream builds one pixel's channels: slopes that differ between pixels are refused
    with the fix; one per channel builds."""
    from kiln.rtl._stream import STREAM

    x = Input("x", "", (2, 2, 2), F(10, 4))
    per_element = _leaky((2, 2, 2), list(range(8)))
    with pytest.raises(UnsupportedLayerError,
                       match="differ from pixel to pixel.*Fix: compile with io_type='io_parallel'"):
        STREAM.emitter(per_element)(per_element, x, "kiln_act")
    per_channel = _leaky((2, 2, 2), [3, -7])
    assert STREAM.emitter(per_channel)(per_channel, x, "kiln_act")[0].latency == 1


@pytest.mark.verilator
def test_stream_pixels_equal_fixed(tmp_path: Path) -> None:
    """A 3x4 image of 2 channels in io_stream, a slope per channel and an ELU after it: the
    Verilated RTL equals kiln.fixed on 400 random images."""
    in_t = F(8, 3)
    table_t = F(12, 2, True, "RND")
    leaky = _leaky((3, 4, 2), [-11, 21])
    elu = Elu("elu", "act", (3, 4, 2), F(9, 3, True, "RND", "SAT"),
              table=frozen_codes(elu_table(128, table_t)), table_type=table_t, alpha=3,
              alpha_type=F(3, 1, False))
    graph = Graph("pixels", (Input("x", "", (3, 4, 2), in_t), leaky, elu), "io_stream")
    codes = np.random.default_rng(3).integers(in_t.min_code, in_t.max_code + 1, (400, 3, 4, 2))
    assert np.array_equal(_emulate(graph, tmp_path, codes).reshape(400, -1),
                          _fixed(graph, codes))


def test_an_elu_index_past_the_c_int_is_refused() -> None:
    """``int index = x * T / -8`` overflows hls4ml's C int for inputs with many integer
    bits: the IR check refuses the graph, naming the fix."""
    from kiln.errors import PrecisionError
    from kiln.ir import check_graph

    table_t = F(14, 2)
    elu = Elu("elu", "x", (2,), F(8, 3), table=frozen_codes(elu_table(1024, table_t)),
              table_type=table_t, alpha=1, alpha_type=F(2, 2))
    check_graph(Graph("ok", (Input("x", "", (2,), F(30, 20)), elu)))  # index < 2**31
    with pytest.raises(PrecisionError, match="beyond the C int.*Fix: give the ELU's input"):
        check_graph(Graph("wide", (Input("x", "", (2,), F(40, 28)), elu)))


@pytest.mark.slow  # a C simulation build
@pytest.mark.verilator
def test_table_index_of_a_type_without_fractional_bits(tmp_path: Path) -> None:
    """An input type with frac < 0 (``fixed<8,10>``: codes step by 4): ap_fixed divides
    ``x * T`` at the product's LSB, so ``x * T / -8`` (ELU, T = 4) and ``x * T / 16``
    (sigmoid, T = 8) truncate there, not at 1. Every code: RTL == kiln.fixed == HLS."""
    import hls4ml
    from tensorflow import keras

    from kiln.frontend._lower import fixed_type
    from kiln.frontend._lower_rectifiers import lower_rectifier
    from kiln.frontend._lower_tables import lower_lut

    inp = keras.Input((2,), name="x")
    elu = keras.layers.ELU(alpha=1.0, name="elu")(inp)
    sig = keras.layers.Activation("sigmoid", name="sig")(inp)
    model = keras.Model(inp, keras.layers.Concatenate(name="join")([elu, sig]))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    layers = config["LayerName"]
    layers["x"]["Precision"]["result"] = "fixed<8,10>"
    layers["elu"].update(Precision={"result": "fixed<16,4>", "param": "ufixed<1,1>"},
                         TableSize=4, Trace=True)
    layers["sig"].update(Precision={"result": "ufixed<16,0>"}, TableSize=8, Trace=True)
    layers["join"]["Precision"] = {"result": "fixed<40,20>"}
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, io_type="io_parallel", backend="Vivado",
        output_dir=str(tmp_path / "hls"))
    t = F(8, 10)
    codes = np.stack([np.arange(t.min_code, t.max_code + 1)] * 2, axis=1)
    _, trace = hls_model.trace(np.ascontiguousarray(codes * 2.0 ** -t.frac))
    for name in ("elu", "sig"):
        layer = hls_model.graph[name]
        out_t = fixed_type(layer.get_output_variable().type.precision, name)
        node = (lower_rectifier(layer, "x", (2,), out_t) if name == "elu"
                else lower_lut(layer, "x", (2,), out_t, "sigmoid"))
        graph = Graph(name, (Input("x", "", (2,), t), node))
        hls = _hls_codes(trace[name], out_t)
        assert np.array_equal(_fixed(graph, codes), hls), name
        assert np.array_equal(_emulate(graph, tmp_path / name, codes), hls), name
