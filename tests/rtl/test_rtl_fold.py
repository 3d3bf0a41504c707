"""Folded Dense layers (reuse factor R > 1): the generated kiln_top against kiln.fixed,
integer-equal, under random valid/ready and reset mid-stream; a sample every max(R) cycles
at full rate with the stated latency; Verilator lint clean."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_rtl_end_to_end import _codes, random_graph

from kiln.artifact import TopContract
from kiln.fixed import execute
from kiln.ir import (
    Dense,
    Graph,
    check_graph,
    frozen_codes,
    valid_reuse_factors,
    with_lut_multipliers,
)
from kiln.rtl import emit_rtl, write_rtl
from kiln.rtl._fold import Folding, emit_folded_dense

SEEDS = range(10)


def folded_graph(seed: int, reuse: tuple[int | None, int | None] = (None, None)) -> Graph:
    """random_graph(seed) with its two Dense layers folded: the given reuse factors, or
    random valid ones (None)."""
    graph = random_graph(seed)
    rng = np.random.default_rng(500 + seed)
    picks = iter(reuse)
    nodes = []
    for node in graph.nodes:
        if isinstance(node, Dense):
            r = next(picks)
            if r is None:
                r = int(rng.choice(valid_reuse_factors(node.n_in, node.n_out)))
            node = replace(node, reuse_factor=r)
        nodes.append(node)
    return check_graph(Graph(f"folded{seed}", tuple(nodes)))


def wide_graph(reuse: int) -> Graph:
    """Input(48) -> Dense(48 -> 4): 48 is divisible by 1, 2, 3, 4, 8, 16 and 48, and 96 is
    a fold beyond n_in (each multiplier computes two outputs)."""
    base = random_graph(3)
    dense = base.nodes[1]
    assert isinstance(dense, Dense)
    rng = np.random.default_rng(reuse)
    return check_graph(Graph(f"wide{reuse}", (
        replace(base.input, shape=(48,)),
        replace(dense, shape=(4,), weight=frozen_codes(_codes(rng, (48, 4), dense.weight_type)),
                bias=frozen_codes(_codes(rng, (4,), dense.bias_type)), reuse_factor=reuse),
    )))


def _build(graph: Graph, tmp_path: Path, n: int, seed: int
           ) -> tuple[TopContract, np.ndarray, list[list[int]]]:
    design = emit_rtl(graph)
    write_rtl(design, tmp_path)
    rng = np.random.default_rng(2000 + seed)
    samples = _codes(rng, (n, graph.input.size), graph.input.out_type)
    ref = execute(graph, torch.as_tensor(samples))["output"].tolist()
    return design.meta, samples, ref


def test_schedule_covers_every_product_once() -> None:
    for n_in, n_out in ((1, 1), (6, 4), (48, 4), (5, 3)):
        for r in valid_reuse_factors(n_in, n_out):
            f = Folding(n_in, n_out, r)
            seen = sorted(f.product(lane, slot, k) for lane in range(f.lanes)
                          for slot in range(f.slots_per_lane) for k in range(r))
            assert seen == [(i, j) for i in range(n_in) for j in range(n_out)]
            assert f.multipliers * r == n_in * n_out


def test_contract_states_the_fold() -> None:
    graph = folded_graph(0, (None, None))
    factors = [n.reuse_factor for n in graph.nodes if isinstance(n, Dense)]
    meta = emit_rtl(graph).meta
    assert meta.ii == max(factors)
    assert meta.timing_exact


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS)
def test_folded_graph_bit_exact_under_backpressure(seed: int, icarus, bench,
                                                   tmp_path: Path) -> None:
    graph = folded_graph(seed)
    meta, samples, ref = _build(graph, tmp_path, 40, seed)
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=70, READY_PCT=60,
                       SEED=seed + 1)
    assert bench.outputs(events, meta) == ref, f"{graph!r}"
    lasts = [e.value for e in events if e.kind == "out"]
    assert lasts == [int(k % 5 == 4) for k in range(len(ref))]  # tlast travels along


@pytest.mark.icarus
@pytest.mark.parametrize("reuse", [1, 2, 3, 4, 8, 16, 48, 96])
def test_reuse_factors_of_a_wide_layer(reuse: int, icarus, bench, tmp_path: Path) -> None:
    graph = wide_graph(reuse)
    meta, samples, ref = _build(graph, tmp_path, 12, reuse)
    events = bench.run(icarus, tmp_path, meta, samples)
    assert bench.outputs(events, meta) == ref, f"{graph!r}"
    ins, outs = bench.cycles(events)
    assert meta.ii == reuse
    assert np.diff(ins).tolist() == [reuse] * (len(ins) - 1)
    assert [o - i for i, o in zip(ins, outs, strict=True)] == [meta.latency] * len(ref)


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_full_rate_runs_at_the_slowest_layer(seed: int, icarus, bench,
                                             tmp_path: Path) -> None:
    graph = folded_graph(seed)
    meta, samples, ref = _build(graph, tmp_path, 16, seed)
    events = bench.run(icarus, tmp_path, meta, samples)
    ins, outs = bench.cycles(events)
    assert bench.outputs(events, meta) == ref
    assert np.diff(ins).tolist() == [meta.ii] * (len(ins) - 1), f"{graph!r}"
    assert [o - i for i, o in zip(ins, outs, strict=True)] == [meta.latency] * len(ref)


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_reset_mid_stream_leaves_no_stale_output(seed: int, icarus, bench,
                                                 tmp_path: Path) -> None:
    graph = folded_graph(seed)
    meta, samples, ref = _build(graph, tmp_path, 40, seed)
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=80, READY_PCT=50,
                       SEED=seed + 7, RESET_AT=10 * meta.ii + 5)
    bench.check_reset(events, meta, ref)


@pytest.mark.verilator
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_folded_graph_lints_clean(seed: int, verilator, tmp_path: Path) -> None:
    write_rtl(emit_rtl(folded_graph(seed)), tmp_path)
    assert "%Warning" not in verilator.lint(tmp_path)


@pytest.mark.icarus
@pytest.mark.parametrize("reuse", [3, 48, 96])
def test_weight_roms_written_as_memories_are_bit_exact(reuse: int, icarus, bench, verilator,
                                                       tmp_path: Path, monkeypatch) -> None:
    """Deep ROMs (the LeNet's fc1: 10^5 words) are written as initialised memories, not case
    tables; the same layers with every ROM in that form compute the same codes."""
    monkeypatch.setattr("kiln.rtl._verilog.CASE_ROM_ENTRIES", 0)
    graph = wide_graph(reuse)
    meta, samples, ref = _build(graph, tmp_path, 12, reuse)
    text = "".join(p.read_text() for p in tmp_path.glob("*.v"))
    assert "initial begin" in text and "case (step_next)" not in text
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=70, READY_PCT=60, SEED=reuse)
    assert bench.outputs(events, meta) == ref, f"{graph!r}"
    assert "%Warning" not in verilator.lint(tmp_path)


def test_slots_share_rom_words() -> None:
    """One ROM word per step holds every slot's weight (up to ROM_WORD_BITS), so a layer
    has a few deep ROMs, not one per multiplier."""
    graph = wide_graph(3)
    dense = graph.nodes[1]
    assert isinstance(dense, Dense)
    module = emit_folded_dense(dense, graph.input.out_type, "fc", 3)
    f = Folding(48, 4, 3)
    used = sum(any(dense.weight[f.product(lane, slot, k)] for k in range(3))
               for lane in range(f.lanes) for slot in range(f.slots_per_lane))
    assert 0 < used <= f.multipliers
    assert [rom.q.width for rom in module.roms] == [used * dense.weight_type.width]
    assert [len(rom.entries) for rom in module.roms] == [3]


@pytest.mark.icarus
@pytest.mark.parametrize("reuse", [2, 16, 96])
def test_multipliers_in_logic_are_bit_exact(reuse: int, icarus, bench, tmp_path: Path) -> None:
    """A layer whose multipliers are shifted adds (for when the DSP blocks run out) computes
    the same codes, and writes no multiplication for synthesis to map to a DSP block."""
    graph = wide_graph(reuse)
    graph = with_lut_multipliers(graph, [n.name for n in graph.nodes])
    meta, samples, ref = _build(graph, tmp_path, 12, reuse)
    dense = next(p for p in tmp_path.glob("*.v") if "shifted adds" in p.read_text())
    assert " * " not in dense.read_text()
    events = bench.run(icarus, tmp_path, meta, samples, VALID_PCT=70, READY_PCT=60, SEED=reuse)
    assert bench.outputs(events, meta) == ref, f"{graph!r}"
