"""The benchmark plumbing: runner, result files, synthesis cache, page rendering; and (slow)
the real ``--quick`` smoke run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import common, render, run
from bench.common import Output, Settings

MACHINE = {"cpu": "test cpu", "cores": 2, "memory_gib": 1.0, "os": "test os", "python": "3.11",
           "load_average_1m": 0.5, "gpu": None, "tools": {"kiln": "0.1.0"}}


def _result(family: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"family": family, "command": "make bench", "quick": False, "date": "today",
            "seconds": 1.0, "machine": MACHINE, **extra, "rows": rows}


RESULTS = {
    "throughput": _result("throughput", [
        {"model": "m1", "samples": 100,
         "samples_per_s": {"kiln emulator": 123456.0, "hls4ml C sim": 2000.0,
                           "kiln.fixed cpu": 4000.0, "framework": 1000.0},
         "ratio_vs_anchor": {"kiln emulator": 61.728, "hls4ml C sim": 1.0,
                             "kiln.fixed cpu": 2.0, "framework": 0.5},
         "cpu_vs_framework": 4.0,
         "mismatches_vs_emulator": {"hls4ml C sim": 0, "kiln.fixed cpu": 0},
         "framework_mismatches": None, "framework_max_lsb": 3.0},
        {"model": "jet", "error": "UnsupportedLayerError: softmax is not built yet"}],
        anchor="hls4ml C sim",
        engines=["kiln emulator", "hls4ml C sim", "kiln.fixed cpu", "framework"], repeats=2),
    "compile_time": _result("compile_time", [
        {"model": "m1", "kiln_compile_s": 30.0, "emulator_build_s": 20.0, "verify_s": 10.0,
         "kiln_total_s": 60.0, "verified": True, "verify_samples": 100, "hls4ml_s": 25.0,
         "ratio_vs_hls4ml": 2.4, "latency_cycles": 9, "ii": 1}], verify_samples=100),
    "hardware": _result("hardware", [
        {"model": "m1", "latency_cycles": 9, "ii": 1,
         "xilinx": {"LUT": 4321, "FF": 765, "DSP": 0, "CARRY": 12},
         "ecp5": {"fits": True, "fmax_mhz": 87.5,
                  "utilisation": {"TRELLIS_COMB": {"used": 5555, "available": 83640}}},
         "published": {"source": "not found"}},
        {"model": "m2", "latency_cycles": 9, "ii": 1,
         "xilinx": {"LUT": 99999, "FF": 1, "DSP": 2, "CARRY": 3},
         "ecp5": {"fits": False, "error": "not attempted: too big"},
         "published": {"source": "not found"}},
        {"model": "m3", "latency_cycles": 5, "ii": 1, "xilinx_error": "BudgetSpent: not run",
         "ecp5": {"fits": None, "error": "BudgetSpent: not run"},
         "published": {"source": "not found"}}],
        xilinx_family="xcup", ecp5_board="ulx3s-85f"),
    "scaling": _result("scaling", [
        {"sweep": sweep, "model": f"mlp_w{w}_b{b}", "width": w, "bits": b, "compile_s": 1.0,
         "emulator_build_s": 2.0, "emulator_samples_per_s": 1000.0 * w, "latency_cycles": 8,
         "fresh": True, **({"xilinx": {"LUT": 10 * w, "FF": w, "DSP": 0}} if w < 64 else {})}
        for sweep, w, b in (("width", 16, 8), ("width", 64, 8), ("bits", 32, 4))],
        samples=10, synth_max_width=32),
    "runtime": _result("runtime", [
        {"model": "m1", "device": d, "batch": b, "calls": 3, "latency_ms": 1.5,
         "samples_per_s": 77.0 * b, "ratio_vs_reference": 1.0}
        for d in ("cpu", "reference") for b in (1, 64)]
        + [{"model": "m1", "device": "cuda", "error": "DeviceError: no CUDA GPU"}],
        batches=[1, 64]),
    "folding": _result("folding", [
        {"model": "m1", "reuse_factor": r, "ii": r, "latency_cycles": 3 + r,
         "estimate": {"LUT6": 900 // r, "FF": 500, "DSP": 8 // r},
         "rtl_vs_hls_mismatches": 0, "rtl_vs_cpu_mismatches": 0,
         **({"xilinx": {"LUT": 1000 // r, "FF": 600, "DSP": 8 // r, "BRAM": 0}} if r < 8
            else {"xilinx_error": "BudgetSpent: not run"})}
        for r in (1, 2, 8)], samples=100),
}


def _output(tmp_path: Path) -> Output:
    return Output(tmp_path / "results", tmp_path / "img", tmp_path / "benchmarks.md",
                  "make bench")


def test_render_writes_every_section_with_its_numbers(tmp_path: Path) -> None:
    out = _output(tmp_path)
    out.results.mkdir()
    for family, result in RESULTS.items():
        (out.results / f"{family}.json").write_text(json.dumps(result))
    page = render.render(out).read_text()
    for heading in ("## Machine", "## 1. Verification throughput", "## 2. Compile time",
                    "## 3. Hardware cost", "## 4. Scaling", "## 5. Runtime", "## 7. Folding"):
        assert heading in page
    assert "123,456" in page and "61.73x" in page and "4.00x" in page   # rates and ratios
    assert "2.40x" in page                                       # compile time vs hls4ml
    assert "4,321" in page and "5,555 / 83,640" in page and "87.5" in page
    assert "`m2` on ECP5: not attempted: too big" in page
    assert "`m3` synth_xilinx: BudgetSpent: not run" in page
    assert "| m3 | 5 | 1 | not run | not run |" in page
    assert "`jet`: not measured: UnsupportedLayerError" in page
    assert "`m1` on cuda: not measured: DeviceError" in page
    assert "not run" in page                                     # scaling point past synthesis
    assert "| m1 | 2 | 2 | 5 | 500 | 600 | 4 | 0 | 450 / 500 / 4 | 0 | 0 |" in page
    assert "`m1` at R = 8 synth_xilinx: BudgetSpent: not run" in page
    images = sorted(p.name for p in out.images.iterdir())
    assert images == ["bench_compile_time.png", "bench_folding.png", "bench_hardware.png",
                      "bench_runtime_m1.png",
                      "bench_scaling_bits.png", "bench_scaling_width.png",
                      "bench_throughput.png"]
    for name in images:
        assert f"(img/{name})" in page


def test_runner_writes_a_result_file_per_family(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[tuple[str, ...], Settings]] = []

    def fake_run(models: tuple[Any, ...], settings: Settings) -> dict[str, Any]:
        seen.append((tuple(m.name for m in models), settings))
        return {"rows": RESULTS["compile_time"]["rows"], "verify_samples": 100}

    monkeypatch.setattr(run, "FAMILIES",
                        {"compile_time": SimpleNamespace(FAMILY="compile_time", run=fake_run)})
    monkeypatch.setattr(run, "_prepare_frameworks", lambda: None)
    monkeypatch.setattr(common, "machine", lambda: MACHINE)
    assert run.main(["--quick", "--out", str(tmp_path), "--tool-budget-s", "5"]) == 0
    assert seen == [(("mlp_w8_b4",), Settings(quick=True, tool_budget_s=5.0))]
    written = json.loads((tmp_path / "results" / "compile_time.json").read_text())
    assert written["rows"] == RESULTS["compile_time"]["rows"]
    assert written["quick"] is True
    assert written["command"] == f"python -m bench.run --quick --out {tmp_path} --tool-budget-s 5"
    assert "2.40x" in (tmp_path / "benchmarks.md").read_text()


def test_models_chosen_per_family_and_unknown_names_refused() -> None:
    assert run._models("runtime", False, None) == run.RUNTIME_MODELS
    assert run._models("throughput", False, None) == run.MODELS
    assert run._models("throughput", False, ["digits_mlp"])[0].name == "digits_mlp"
    with pytest.raises(SystemExit, match="unknown model"):
        run._models("throughput", False, ["no_such_model"])


def test_cache_computes_once_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "CACHE", tmp_path)
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"LUT": 7}

    assert common.lookup("synth", ("a", "b")) is None
    assert common.cached("synth", ("a", "b"), compute) == ({"LUT": 7}, False)
    assert common.lookup("synth", ("a", "b")) == {"LUT": 7}
    assert common.cached("synth", ("a", "b"), compute) == ({"LUT": 7}, True)
    assert common.cached("synth", ("a", "c"), compute) == ({"LUT": 7}, False)
    assert len(calls) == 2


@pytest.mark.slow
@pytest.mark.verilator
def test_quick_mode_measures_every_family_bit_exactly(tmp_path: Path) -> None:
    assert run.main(["--quick", "--out", str(tmp_path)]) == 0
    results = common.read_results(tmp_path / "results")
    assert sorted(results) == sorted(run.FAMILIES)
    (throughput,) = results["throughput"]["rows"]
    assert throughput["mismatches_vs_emulator"] == {"hls4ml C sim": 0, "kiln.fixed cpu": 0}
    assert throughput["framework_mismatches"] == 0
    (compiled,) = results["compile_time"]["rows"]
    assert compiled["verified"] is True
    (hardware,) = results["hardware"]["rows"]
    assert hardware["latency_cycles"] == compiled["latency_cycles"]
    assert hardware["xilinx"]["LUT"] > 0
    folded = {r["reuse_factor"]: r for r in results["folding"]["rows"]}
    assert sorted(folded) == [1, 4] and folded[4]["ii"] == 4
    assert all(r["rtl_vs_hls_mismatches"] == r["rtl_vs_cpu_mismatches"] == 0
               for r in folded.values())
    devices = {r["device"] for r in results["runtime"]["rows"] if "error" not in r}
    assert {"fpga-sim", "hls", "cpu", "reference"} <= devices
