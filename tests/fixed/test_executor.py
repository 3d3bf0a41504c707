"""kiln.fixed's executor: prepared programs, both Dense paths against Python integers, the
ways to run (accel) and the casts' fast forms against their plain definitions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from kiln.errors import DeviceError
from kiln.fixed import ACCEL_ENV, execute, prepare, requantize
from kiln.fixed._accel import choose_accel
from kiln.fixed._quantize import trunc_div, wrap
from kiln.ir import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    Dense,
    FixedType,
    Graph,
    Input,
    Relu,
    check_graph,
    frozen_codes,
)

IN_T = FixedType(10, 4)
W_T = FixedType(6, 1)
OUT_T = FixedType(12, 6, True, "RND_CONV", "SAT")
RELU_T = FixedType(6, 3, False, "RND", "SAT")


def _dense_graph(accum: FixedType, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    weight = rng.integers(W_T.min_code, W_T.max_code + 1, size=(23, 7))
    bias = rng.integers(W_T.min_code, W_T.max_code + 1, size=7)
    return check_graph(Graph("dense", (
        Input("in", "", (23,), IN_T),
        Dense("fc", "in", (7,), OUT_T, weight=frozen_codes(weight), bias=frozen_codes(bias),
              weight_type=W_T, bias_type=W_T, accum_type=accum),
        Relu("relu", "fc", (7,), RELU_T))))


def _cast(value: int, frac: int, t: FixedType) -> int:
    """One ap_fixed cast of an exact integer code, in Python integers (TRN, RND or RND_CONV
    rounding, WRAP or SAT overflow: the modes these graphs use)."""
    shift = frac - t.frac
    if shift > 0:
        q, rem = value >> shift, value & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if t.rounding == "RND_CONV" and (rem > half or (rem == half and q & 1)):
            q += 1
        if t.rounding == "RND" and rem >= half:
            q += 1
        value = q
    else:
        value <<= -shift
    if t.overflow == "SAT":
        return min(max(value, t.min_code), t.max_code)
    return (value - t.min_code) % (1 << t.width) + t.min_code


def _reference(graph: Graph, x: np.ndarray) -> np.ndarray:
    _, fc, _ = graph.nodes
    assert isinstance(fc, Dense)
    acc_t, product_frac = fc.accum_type, IN_T.frac + W_T.frac
    out = []
    for sample in x.tolist():
        row = []
        for j in range(fc.n_out):
            acc = _cast(int(fc.bias[j]), W_T.frac, acc_t)
            for i, xi in enumerate(sample):
                acc += _cast(xi * int(fc.weight[i, j]), product_frac, acc_t)
            y = _cast(_cast(acc, acc_t.frac, acc_t), acc_t.frac, OUT_T)
            row.append(y)
        out.append(row)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("accum", [FixedType(24, 10), FixedType(13, 7)],
                         ids=["float64 product", "int64 products"])
def test_dense_paths_equal_python_integers(accum: FixedType) -> None:
    graph = _dense_graph(accum)
    x = np.random.default_rng(1).integers(IN_T.min_code, IN_T.max_code + 1, size=(300, 23))
    got = execute(graph, torch.from_numpy(x), trace=True)
    fc = _reference(graph, x)
    assert np.array_equal(got["fc"].numpy(), fc)
    relu = [[_cast(max(v, 0), OUT_T.frac, RELU_T) for v in row] for row in fc.tolist()]
    assert np.array_equal(got["relu"].numpy(), relu)
    assert torch.equal(got["output"], execute(graph, torch.from_numpy(x))["output"])


def test_output_cast_equals_the_two_casts_for_every_mode() -> None:
    """Where the output cast reads only the accumulator's low bits the executor skips the
    accumulator's own wrap; for every mode and many widths the codes equal both casts."""
    rng = np.random.default_rng(4)
    weight = rng.integers(-2**11, 2**11, size=(9, 4))
    x = rng.integers(IN_T.min_code, IN_T.max_code + 1, size=(1000, 9))
    big_w = FixedType(12, 12)  # integer weights: products keep every fractional bit
    for accum in (FixedType(16, 5), FixedType(20, 9), FixedType(30, 19, False)):
        summed = torch.from_numpy(x @ weight) << (accum.frac - IN_T.frac - big_w.frac)
        for rounding in ROUNDING_MODES:
            for overflow in OVERFLOW_MODES:
                for width, integer in ((8, 3), (accum.width, accum.integer), (5, 6),
                                       (accum.width - 4, accum.integer - 2)):
                    out = FixedType(width, integer, True, rounding, overflow)
                    graph = Graph("g", (Input("in", "", (9,), IN_T), Dense(
                        "fc", "in", (4,), out, weight=frozen_codes(weight),
                        bias=frozen_codes(np.zeros(4, dtype=np.int64)), weight_type=big_w,
                        bias_type=big_w, accum_type=accum)))
                    want = requantize(requantize(summed, accum.frac, accum), accum.frac, out)
                    assert torch.equal(execute(graph, torch.from_numpy(x))["output"], want), \
                        (accum, out)


def test_a_graph_is_prepared_once_per_device() -> None:
    graph = _dense_graph(FixedType(24, 10))
    program = prepare(graph, "cpu")
    assert prepare(graph, torch.device("cpu")) is program
    x = torch.zeros((0, 23), dtype=torch.int64)
    assert program.run(x).shape == (0, 7)
    trace = program.trace(torch.zeros((2, 23), dtype=torch.int32))
    assert list(trace) == ["in", "fc", "relu", "output"]
    assert list(program.layers(torch.zeros((2, 23), dtype=torch.int32))) == ["in", "fc", "relu"]


def test_layers_keeps_a_node_named_output() -> None:
    """trace() puts the graph's output under "output"; a layer of that name (the jet MLP's
    Dense before its softmax) keeps its own codes in layers()."""
    graph = _dense_graph(FixedType(24, 10))
    renamed = tuple(replace(n, name="output") if n.name == "fc" else
                    replace(n, source="output") if n.source == "fc" else n
                    for n in graph.nodes)
    program = prepare(replace(graph, nodes=renamed), "cpu")
    x = torch.from_numpy(np.random.default_rng(2).integers(0, 8, size=(5, 23)))
    layers, trace = program.layers(x), program.trace(x)
    assert torch.equal(trace["output"], layers["relu"])
    assert layers["output"].shape == (5, 7) and not torch.equal(layers["output"], layers["relu"])


def test_accel_is_off_on_the_cpu_and_chosen_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACCEL_ENV, "graphs")
    assert choose_accel(None, torch.device("cpu")) == "eager"
    assert choose_accel(None, torch.device("cuda")) == "graphs"
    monkeypatch.delenv(ACCEL_ENV)
    assert choose_accel(None, torch.device("cuda")) == "eager"
    assert choose_accel("compile", torch.device("cpu")) == "compile"
    with pytest.raises(DeviceError, match=r"'fast' is not a way to run; choose one of eager"):
        choose_accel("fast", torch.device("cpu"))
    with pytest.raises(DeviceError, match=r"CUDA graphs, but the codes are on cpu"):
        execute(_dense_graph(FixedType(24, 10)), torch.zeros((1, 23), dtype=torch.int64),
                accel="graphs")
    with pytest.raises(DeviceError, match=r"'compile\+gaphs' is not a way to run"):
        prepare(_dense_graph(FixedType(24, 10))).run(torch.zeros((1, 23)), "compile+gaphs")
    monkeypatch.setenv(ACCEL_ENV, "turbo")
    with pytest.raises(DeviceError, match=r"\$KILN_FIXED_ACCEL='turbo'"):
        choose_accel(None, torch.device("cuda"))


def test_running_a_program_never_waits_for_or_uploads_to_the_device() -> None:
    """Program.run issues tensor operations only: no ``.item()``/``bool()``/``int()`` of a
    tensor (``_local_scalar_dense``: the host waits for the device), no tensor made from host
    data (``lift_fresh``: an upload), no copy to another device: the conditions for CUDA
    graph capture, checked here op by op on the CPU."""
    from nnet_cases import LUTS, SOFTMAXES
    from tests.cnn.graphs import Chain
    from torch.utils._python_dispatch import TorchDispatchMode

    softmax, lut = SOFTMAXES[0], LUTS[0]
    graphs = [
        _dense_graph(FixedType(24, 10)), _dense_graph(FixedType(13, 7)),
        Chain((8, 8, 2), 1).pad((1, 1, 1, 1)).conv(3, (3, 3)).relu()
        .pool((2, 2), (2, 2), FixedType(12, 6)).conv(2, (2, 2)).pool((2, 2), (1, 1))
        .dense(5).graph(),
        Graph("softmax", (Input("x", "", (softmax.n,), softmax.in_type), softmax.node())),
        Graph("lut", (Input("x", "", (1,), lut.in_type), lut.node())),
    ]
    seen: list[str] = []

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.append(str(func) + ("->" + str(kwargs["device"]) if kwargs and
                                     kwargs.get("device") is not None else ""))
            return func(*args, **(kwargs or {}))

    for graph in graphs:
        program = prepare(graph, "cpu")
        t = graph.input.out_type
        x = torch.from_numpy(np.random.default_rng(0).integers(
            t.min_code, t.max_code + 1, size=(64, graph.input.size)))
        with Ops():
            program.run(x)
    assert len(seen) > 100
    assert not [op for op in seen if "_local_scalar_dense" in op or "lift_fresh" in op
                or "->" in op]


@pytest.mark.slow
def test_torch_compile_gives_the_same_codes() -> None:
    """accel='compile' on the CPU (inductor, about 40 s here): the fused program's codes
    equal eager execution's, for two batch sizes (the second compiles for dynamic shapes)."""
    from tests.cnn.graphs import Chain, input_codes

    graph = (Chain((8, 8, 1), 0).conv(4, (3, 3)).relu().pool((2, 2), (2, 2)).conv(6, (2, 2))
             .relu().dense(5).graph())
    for n in (500, 777):
        x = torch.from_numpy(input_codes(graph, n, n))
        assert torch.equal(execute(graph, x, accel="compile")["output"],
                           execute(graph, x)["output"])


def test_wrap_and_trunc_div_equal_their_definitions() -> None:
    rng = np.random.default_rng(2)
    codes = torch.from_numpy(np.concatenate([rng.integers(-2**61, 2**61, 20000),
                                             rng.integers(-70, 70, 2000)]))
    for lo, width in ((-(1 << 31), 32), (0, 7), (-8, 4), (5, 3), (-(1 << 61), 62)):
        assert torch.equal(wrap(codes, lo, width), torch.remainder(codes - lo, 1 << width) + lo)
    for divisor in (1, 2, 16, 3, 9, 1 << 40):
        assert torch.equal(trunc_div(codes, divisor),
                           torch.div(codes, divisor, rounding_mode="trunc"))
