"""The kiln.fixed device section of the benchmarks page: CPU and CUDA rows from their own
gpu_check result files, and "not measured" where a device has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import gpu


def _result(device: str, rate: float) -> dict[str, Any]:
    machine = {"cpu": "x86_64", "cores": 2, "torch_threads": 1, "os": "linux",
               "python": "3.12.3", "torch": "2.11.0", "numpy": "2.5",
               "gpu": {"name": "NVIDIA H200", "memory_gib": 139.8, "multiprocessors": 132,
                       "cuda": "13.0"} if device == "cuda" else None}
    executor = [{"accel": a, "batch": b, "calls": 3, "latency_ms": 1.0,
                 "samples_per_s": rate * b, "equal": True, "first_call_s": 0.1}
                for a in (("eager", "graphs") if device == "cuda" else ("eager",))
                for b in (1, 1000)]
    return {"date": "2026-12-04 20:00 UTC", "device": device,
            "command": f"python scripts/gpu_check.py run --device {device}",
            "kiln": {"commit": "0123456789abcdef", "sw_changed": False}, "machine": machine,
            "models": [{"model": "jet_mlp",
                        "check": {"samples": 1_000_000, "sample_rows": 2048,
                                  "sample_mismatches": 0, "sha256_equal": True,
                                  "equal": True},
                        "predict": [{"batch": b, "calls": 2, "latency_ms": 2.0,
                                     "samples_per_s": rate * b / 2} for b in (1, 1000)],
                        "bytes": {"batch": 4096, "ops": 100, "eager_bytes_per_sample": 40_000,
                                  "io_bytes_per_sample_int64": 168},
                        "executor": executor}],
            "all_equal": True}


def _write(results: Path, device: str, rate: float) -> None:
    (results / "gpu_check").mkdir(parents=True, exist_ok=True)
    (results / "gpu_check" / f"{device}.json").write_text(json.dumps(_result(device, rate)))


def test_without_a_gpu_file_the_cuda_rows_say_not_measured(tmp_path: Path) -> None:
    _write(tmp_path, "cpu", 1000.0)
    page = gpu.section(tmp_path)
    assert "- **cuda**: not measured: no GPU lent to the session that ran the bench." in page
    assert "| jet_mlp | cpu | 500 / 2 ms | 500,000 / 2 ms |" in page
    assert f"| jet_mlp | cuda | {gpu.NO_GPU} | - |" in page
    assert "| jet_mlp | cpu eager | 1,000 / 1 ms | 1,000,000 / 1 ms |" in page
    assert "0 mismatches on 1,000,000 samples (SHA-256 of every code)" in page
    assert "kiln 0123456789, by `python scripts/gpu_check.py run --device cpu`" in page
    # the bound is arithmetic on the counted bytes, labelled as such
    assert "a calculation, not a measurement" in page
    assert "1.20e+08 samples/s eager" in page and "2.86e+10 samples/s fully fused" in page


def test_a_gpu_file_adds_its_rows_with_its_machine(tmp_path: Path) -> None:
    _write(tmp_path, "cpu", 1000.0)
    _write(tmp_path, "cuda", 50_000.0)
    page = gpu.section(tmp_path)
    assert gpu.NO_GPU not in page
    assert "measured 2026-12-04 20:00 UTC on NVIDIA H200 (139.8 GiB, CUDA 13.0)" in page
    assert "| jet_mlp | cuda graphs | 50,000 / 1 ms | 50,000,000 / 1 ms |" in page


def test_no_result_files_say_how_to_make_them(tmp_path: Path) -> None:
    page = gpu.section(tmp_path)
    assert "- **cpu**: not measured: run `python scripts/gpu_check.py prepare`" in page
    assert gpu.NO_GPU in page
