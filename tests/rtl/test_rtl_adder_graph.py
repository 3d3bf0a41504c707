"""The adder-graph Dense on layers wide enough for common subexpressions to matter: random
weights, types and pipelining (adder levels per stage), a ReLU built in or not, equal to
kiln.fixed under random valid/ready in Icarus; and what more adder levels per stage buy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from kiln.fixed import execute
from kiln.ir import (
    Cast,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    Relu,
    check_graph,
    frozen_codes,
    with_adder_levels,
)
from kiln.rtl import emit_rtl, write_rtl

SEEDS = range(12)


def wide_graph(seed: int) -> Graph:
    """Input -> Dense (8..24 inputs, 4..16 outputs, 2..8-bit weights) -> ReLU or Cast, with
    an accumulator that sometimes wraps and sometimes drops product bits."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(8, 25)), int(rng.integers(4, 17))
    in_t = FixedType(int(rng.integers(3, 11)), int(rng.integers(0, 4)), bool(rng.random() < 0.7))
    w_t = FixedType(int(rng.integers(2, 9)), int(rng.integers(0, 3)))
    weight = rng.integers(w_t.min_code, w_t.max_code + 1, size=(n_in, n_out))
    weight[rng.random(weight.shape) < 0.2] = 0
    b_t = FixedType(6, 3)
    bias = rng.integers(b_t.min_code, b_t.max_code + 1, size=n_out)
    frac = in_t.frac + w_t.frac + int(rng.integers(-2, 2))
    acc_t = FixedType(int(rng.integers(10, 20)) + max(frac, 0), int(rng.integers(4, 10)))
    acc_t = FixedType(acc_t.width, acc_t.width - frac, True, "TRN", "WRAP")
    out_t = FixedType(int(rng.integers(6, 13)), int(rng.integers(3, 8)), True,
                      str(rng.choice(["TRN", "RND", "RND_CONV"])),
                      str(rng.choice(["WRAP", "SAT"])))
    dense = Dense("fc", "in", (n_out,), out_t, weight=frozen_codes(weight),
                  bias=frozen_codes(bias), weight_type=w_t, bias_type=b_t, accum_type=acc_t)
    last: Node
    if rng.random() < 0.5:
        last = Relu("act", "fc", (n_out,), FixedType(6, 2, False, "RND_CONV", "SAT"))
    else:
        last = Cast("act", "fc", (n_out,), FixedType(8, 4, True, "RND", "SAT"))
    graph = Graph(f"wide{seed}", (Input("in", "", (n_in,), in_t), dense, last))
    return check_graph(with_adder_levels(graph, int(rng.integers(1, 6))))


@pytest.mark.icarus
@pytest.mark.parametrize("seed", SEEDS)
def test_wide_dense_bit_exact(seed: int, icarus, bench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    graph = wide_graph(seed)
    design = emit_rtl(graph)
    write_rtl(design, tmp_path)
    rng = np.random.default_rng(100 + seed)
    t = graph.input.out_type
    samples = rng.integers(t.min_code, t.max_code + 1, size=(150, graph.input.size))
    ref = execute(graph, torch.as_tensor(samples))["output"].tolist()
    events = bench.run(icarus, tmp_path, design.meta, samples, VALID_PCT=75, READY_PCT=65,
                       SEED=seed + 7)
    assert bench.outputs(events, design.meta) == ref, f"{graph!r}"


def test_more_levels_per_stage_cost_fewer_cycles_and_registers() -> None:
    graph = wide_graph(3)
    cycles, register_bits = [], []
    for levels in (1, 2, 4, 8):
        design = emit_rtl(with_adder_levels(graph, levels))
        text = next(v for k, v in design.files.items() if k == "kiln_fc.v")
        cycles.append(design.meta.latency)
        register_bits.append(sum(int(w) + 1 for w in _reg_widths(text)))
    assert cycles == sorted(cycles, reverse=True) and cycles[0] > cycles[-1]
    assert register_bits == sorted(register_bits, reverse=True)
    assert register_bits[0] > register_bits[-1]


def _reg_widths(text: str) -> list[str]:
    import re

    return re.findall(r"reg (?:signed )?\[(\d+):0\]", text)


def test_relu_is_built_into_the_dense_before_it() -> None:
    graph = next(g for g in map(wide_graph, SEEDS) if isinstance(g.nodes[-1], Relu))
    as_cast = replace(graph, nodes=(*graph.nodes[:2], Cast("act", "fc", graph.nodes[-1].shape,
                                                          graph.nodes[-1].out_type)))
    fused, separate = emit_rtl(graph), emit_rtl(as_cast)
    assert list(fused.files) == ["kiln_fc.v", "kiln_top.v"]
    assert "(relu)" in fused.files["kiln_fc.v"].splitlines()[0]
    assert fused.meta.latency < separate.meta.latency


def test_relu_after_a_saturating_cast_clamps_first() -> None:
    """A saturating cast keeps 0 and never turns a negative code positive, so the built-in
    ReLU clamps the accumulator first and the cast has no lower bound to compare."""
    for seed in SEEDS:
        graph = wide_graph(seed)
        dense, last = graph.nodes[1], graph.nodes[-1]
        if isinstance(last, Relu) and dense.out_type.overflow == "SAT":
            break
    else:
        pytest.skip("no seed draws a saturating Dense before a ReLU")
    text = emit_rtl(graph).files["kiln_fc.v"]
    assert "_pos = " in text and " < " not in text
