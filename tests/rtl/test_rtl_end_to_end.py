"""Random small graphs: the generated kiln_top against kiln.fixed.execute, integer-equal,
under random valid/ready, with reset mid-stream; and Verilator lint on each."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from kiln.fixed import execute
from kiln.ir import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    Cast,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    Relu,
    check_graph,
    frozen_codes,
)
from kiln.rtl import emit_rtl, write_rtl

HERE = Path(__file__).parent
SEEDS = range(12)


def _modes(rng: np.random.Generator, width: int, signed: bool) -> tuple[str, str]:
    overflow = str(rng.choice(OVERFLOW_MODES))
    if signed and width < 2:
        overflow = "SAT"
    return str(rng.choice(ROUNDING_MODES)), overflow


def _bits(magnitude: float) -> int:
    """Integer bits of an unsigned type that holds ``magnitude``."""
    return max(0, math.ceil(math.log2(magnitude + 1e-9))) if magnitude > 0 else 0


def _codes(rng: np.random.Generator, shape: tuple[int, ...], t: FixedType) -> np.ndarray:
    codes = rng.integers(t.min_code, t.max_code + 1, size=shape)
    return np.where(rng.random(shape) < 0.3, 0, codes)


def _fitted(rng: np.random.Generator, peak: float, signed: bool) -> FixedType:
    """A random-width type whose range fits ``peak``, one bit either way (so it sometimes
    saturates or wraps), with random modes: outputs keep varying."""
    width = int(rng.integers(3, 11))
    integer = _bits(peak) + int(signed) + int(rng.integers(-1, 2))
    return FixedType(width, integer, signed, *_modes(rng, width, signed))


def _dense(rng: np.random.Generator, name: str, source: str, n_in: int, n_out: int,
           in_type: FixedType) -> Dense:
    w_t = FixedType(int(rng.integers(2, 7)), int(rng.integers(-1, 3)))
    b_t = FixedType(int(rng.integers(2, 7)), int(rng.integers(-1, 4)), bool(rng.random() < 0.8))
    weight = _codes(rng, (n_in, n_out), w_t)
    if n_out > 1 and rng.random() < 0.5:
        weight[:, int(rng.integers(n_out))] = 0  # an output with no products at all
    bias = _codes(rng, (n_out,), b_t)
    x_peak = max(abs(in_type.min_code), in_type.max_code) * in_type.lsb
    peak = float((np.abs(weight).sum(axis=0) * w_t.lsb * x_peak + np.abs(bias) * b_t.lsb).max())
    frac = in_type.frac + w_t.frac + int(rng.integers(-3, 2))  # sometimes drops product LSBs
    signed = bool(rng.random() < 0.85)
    integer = _bits(peak) + int(signed) + int(rng.integers(-1, 2))  # sometimes wraps
    acc_t = FixedType(max(2, integer + frac), integer, signed,
                      str(rng.choice(ROUNDING_MODES)), "WRAP")
    return Dense(name, source, (n_out,), acc_t, weight=frozen_codes(weight),
                 bias=frozen_codes(bias), weight_type=w_t, bias_type=b_t, accum_type=acc_t)


def _peak(nodes: list[Node], x: np.ndarray) -> float:
    out = execute(Graph("calibrate", tuple(nodes)), torch.as_tensor(x))["output"]
    return float(out.abs().max()) * nodes[-1].out_type.lsb


def random_graph(seed: int) -> Graph:
    """Input -> Dense -> Relu -> Dense -> Cast with random sizes, weights and types; each
    output type is fitted to the range its layer produces on random inputs."""
    rng = np.random.default_rng(seed)
    n0, n1, n2 = (int(v) for v in rng.integers(1, 7, size=3))
    in_t = FixedType(int(rng.integers(2, 9)), int(rng.integers(-1, 5)), bool(rng.random() < 0.7))
    x = _codes(rng, (200, n0), in_t)
    nodes: list[Node] = [Input("in", "", (n0,), in_t)]

    def add(node: Node, signed: bool) -> None:
        nodes.append(replace(node, out_type=_fitted(rng, _peak([*nodes, node], x), signed)))

    add(_dense(rng, "fc1", "in", n0, n1, in_t), bool(rng.random() < 0.8))
    add(Relu("relu1", "fc1", (n1,), nodes[-1].out_type), bool(rng.random() < 0.3))
    add(_dense(rng, "fc2", "relu1", n1, n2, nodes[-1].out_type), bool(rng.random() < 0.8))
    add(Cast("out", "fc2", (n2,), nodes[-1].out_type), bool(rng.random() < 0.7))
    return check_graph(Graph(f"random{seed}", tuple(nodes)))


def _build(seed: int, tmp_path: Path, samples_count: int):
    graph = random_graph(seed)
    design = emit_rtl(graph)
    write_rtl(design, tmp_path)
    rng = np.random.default_rng(1000 + seed)
    samples = _codes(rng, (samples_count, graph.input.size), graph.input.out_type)
    ref = execute(graph, torch.as_tensor(samples))["output"].tolist()
    return graph, design.meta, samples, ref


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_bit_exact_under_backpressure(seed: int, icarus, bench,
                                                   tmp_path: Path) -> None:
    graph, meta, samples, ref = _build(seed, tmp_path, 60)
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=70, READY_PCT=60,
                       SEED=seed + 1)
    assert bench.outputs(events, meta) == ref, f"{graph!r}"
    lasts = [e.value for e in events if e.kind == "out"]
    assert lasts == [int(k % 5 == 4) for k in range(len(ref))]  # tlast travels along


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_latency_and_ii_without_stalls(seed: int, icarus, bench, tmp_path: Path) -> None:
    _, meta, samples, ref = _build(seed, tmp_path, 20)
    events = bench.run(icarus, tmp_path, meta, samples)
    ins, outs = bench.cycles(events)
    assert bench.outputs(events, meta) == ref
    assert np.diff(ins).tolist() == [1] * (len(ins) - 1)  # II = 1
    assert [o - i for i, o in zip(ins, outs, strict=True)] == [meta.latency] * len(ref)


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_reset_mid_stream_leaves_no_stale_output(seed: int, icarus, bench,
                                                 tmp_path: Path) -> None:
    _, meta, samples, ref = _build(seed, tmp_path, 40)
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=80, READY_PCT=50,
                       SEED=seed + 7, RESET_AT=30)
    bench.check_reset(events, meta, ref)


@pytest.mark.verilator
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_lints_clean(seed: int, verilator, tmp_path: Path) -> None:
    write_rtl(emit_rtl(random_graph(seed)), tmp_path)
    assert "%Warning" not in verilator.lint(tmp_path)


@pytest.mark.verilator
def test_verilator_simulation_agrees(verilator, bench, tmp_path: Path) -> None:
    """Verilator's semantics (not only Icarus's) give kiln.fixed's codes."""
    _, meta, samples, ref = _build(3, tmp_path, 40)
    events = bench.run(verilator, tmp_path, meta, samples, VALID_PCT=70, READY_PCT=70)
    assert bench.outputs(events, meta) == ref
