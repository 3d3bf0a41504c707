"""The da4ml side-by-side family: the layer export (pure), the cell summary, and (Verilator,
da4ml's environment present) da4ml's Verilog of a tiny MLP checked bit for bit against
kiln.fixed, with a changed function caught as a mismatch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench import da4ml_compare as d4
from kiln.ir import Dense, FixedType, Graph, Input, Relu, check_graph, frozen_codes

IN_T = FixedType(8, 3)
W_T = FixedType(5, 1)
ACC_T = FixedType(20, 8)
RELU_T = FixedType(5, 1, signed=False, rounding="RND_CONV", overflow="SAT")
OUT_T = FixedType(12, 6, rounding="RND", overflow="SAT")


def _graph(bias_shift: int = 0) -> Graph:
    rng = np.random.default_rng(3)
    w1 = rng.integers(-16, 16, size=(4, 3))
    w2 = rng.integers(-16, 16, size=(3, 2))
    return check_graph(Graph("tiny", (
        Input("x", "", (4,), IN_T),
        Dense("fc1", "x", (3,), FixedType(14, 6), weight=frozen_codes(w1),
              bias=frozen_codes([3 + bias_shift, -5, 7]), weight_type=W_T, bias_type=W_T,
              accum_type=ACC_T),
        Relu("relu1", "fc1", (3,), RELU_T),
        Dense("fc2", "relu1", (2,), OUT_T, weight=frozen_codes(w2),
              bias=frozen_codes([1, -2]), weight_type=W_T, bias_type=W_T, accum_type=ACC_T),
    )))


def test_export_keeps_codes_and_every_type_with_its_modes() -> None:
    export = d4.export_layers(_graph())
    assert export["input"] == {"shape": [4], "type": {
        "width": 8, "integer": 3, "signed": True, "rounding": "TRN", "overflow": "WRAP",
        "text": "fixed<8,3,TRN,WRAP>"}}
    kinds = [layer["kind"] for layer in export["layers"]]
    assert kinds == ["dense", "relu", "dense"]
    fc1 = export["layers"][0]
    assert fc1["bias"] == [3, -5, 7] and len(fc1["weight"]) == 4
    assert fc1["accum_type"]["text"] == "fixed<20,8,TRN,WRAP>"
    assert export["layers"][1]["out_type"]["rounding"] == "RND_CONV"
    assert export["layers"][2]["out_type"]["overflow"] == "SAT"


def test_export_rejects_layers_outside_the_comparison() -> None:
    graph = _graph()
    folded = dataclasses.replace(graph, nodes=(graph.nodes[0], dataclasses.replace(
        graph.nodes[1], reuse_factor=2), *graph.nodes[2:]))
    with pytest.raises(ValueError, match="reuse factor 2"):
        d4.export_layers(folded)


def test_summary_names_carry_cells_as_yosys_does() -> None:
    cells = {"LUT2": 3, "LUT6": 4, "FDRE": 5, "CARRY4": 2, "BUFG": 1}
    s = d4.summarize(cells)
    assert (s["LUT"], s["FF"], s["carry"], s["carry_cells"]) == (7, 5, 2, ["CARRY4"])


@pytest.mark.verilator
@pytest.mark.skipif(not (d4.VENV / "bin" / "python").is_file(),
                    reason="da4ml's environment (.venv-da4ml) is not made; "
                           "`python -m bench.run --only da4ml` makes it")
def test_da4ml_verilog_is_checked_bit_for_bit(tmp_path: Path) -> None:
    graph = _graph()
    metas = d4.build_da4ml(d4.export_layers(graph), tmp_path, ("lc2:2:2:2",))
    meta = metas["lc2"]
    assert meta["latency"] == meta["stages"] + 1 > 1
    same = d4.check_bit_exact(graph, tmp_path / "lc2", meta, 600)
    assert same["bit_exact"], same
    # a different function (one bias code changed) must be caught
    other = d4.check_bit_exact(_graph(bias_shift=1), tmp_path / "lc2", meta, 600)
    assert not other["bit_exact"] and other["mismatched_samples"] > 0
    assert "first_mismatch" in other


def test_section_shows_the_table_and_every_row_not_measured() -> None:
    result = {
        "date": "today", "command": "make bench", "check_samples": 4096,
        "machine": {"cpu": "cpu", "cores": 2, "load_average_1m": 1.0,
                    "tools": {"kiln": "0.1.0", "yosys": "0.70", "verilator": "5"}},
        "da4ml_versions": {"da4ml": "0.6.0", "numpy": "2.4.6", "quantizers": "1.2.2"},
        "rows": [
            {"model": "m", "design": "da4ml", "setting": "lc2", "latency": 17,
             "latency_cutoff": 2.0, "hard_dc": 2, "check": {"bit_exact": True},
             "LUT": 31385, "FF": 19307, "carry": 9663, "carry_cells": ["CARRY4"],
             "synth_s": 900.0},
            {"model": "m", "design": "da4ml", "setting": "lc5", "latency": 8,
             "latency_cutoff": 5.0, "hard_dc": 2,
             "check": {"bit_exact": False, "mismatched_samples": 7},
             "error": "not compared: differs"},
            {"model": "m", "design": "kiln", "setting": "adder_levels=2", "latency": 16,
             "synth_error": "BudgetSpent: not run"},
            {"model": "big", "error": "ValueError: conv layers are not part of this"},
            {"model": "m2", "design": "da4ml", "setting": "lc2", "latency": 17,
             "latency_cutoff": 2.0, "hard_dc": 2, "check": {"bit_exact": True},
             "LUT": 100, "FF": 50, "carry": 10, "synth_s": 1.0},
            {"model": "m2", "design": "kiln", "setting": "adder_levels=2", "latency": 16,
             "LUT": 80, "FF": 50, "carry": 10, "synth_s": 1.0,
             "ecp5": {"TRELLIS_COMB": 1000, "TRELLIS_FF": 500, "fmax_mhz": 150.2}},
        ]}
    page = d4.section(result)
    assert "| `m` | da4ml | lc2: latency_cutoff 2, hard_dc 2 | 17 | 31,385 | 19,307 | 9,663 |" \
        in page
    assert "**NO** (7 differ)" in page
    assert "`m` kiln adder_levels=2: not synthesized: BudgetSpent" in page
    assert "`big`: not measured: ValueError" in page
    assert "CARRY4" in page and "da4ml 0.6.0" in page
    assert "| `m2` | 2 | 0.80 | 1.00 | 1.00 | 16 vs 17 |" in page
    assert "| 1,000 / 500 / 150.2 |" in page
