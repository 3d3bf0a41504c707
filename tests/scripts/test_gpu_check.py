"""scripts/gpu_check.py: inputs that every machine makes alike, and prepare + run end to end
on the CPU (the GPU machine runs the same with device="cuda")."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


gpu_check = _script()


def test_splitmix64_is_the_reference_stream() -> None:
    words = gpu_check.splitmix64(0, 0, 3)
    assert [int(w) for w in words] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
                                       0x06C45D188009454F]
    assert int(gpu_check.splitmix64(0, 2, 1)[0]) == 0x06C45D188009454F  # any slice alike


def test_inputs_cover_the_input_type_exactly(digits_artifact: Any) -> None:
    import kiln

    runtime = kiln.load(digits_artifact.path)
    t = runtime.graph.input.out_type
    x = gpu_check.inputs(runtime, 7, 0, 500)
    assert x.shape == (500, 64)
    assert np.array_equal(gpu_check.inputs(runtime, 7, 100, 50), x[100:150])
    quarter_lsbs = x * 2.0 ** (t.frac + 2)
    assert np.array_equal(quarter_lsbs, np.round(quarter_lsbs))  # exact in float64
    assert x.min() >= t.min_code * t.lsb and x.max() < (t.max_code + 1) * t.lsb


def test_prepare_then_run_on_the_cpu(digits_artifact: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """About 10 s: the digits MLP prepared for 2,500 samples, run on the CPU (every code
    equal: by hash, by sample rows); then a changed hash is reported as a failure."""
    monkeypatch.setattr(gpu_check, "_artifact_dir", lambda name: digits_artifact.path)
    prepared = tmp_path / "check"
    gpu_check.prepare(prepared, ["digits_mlp"], 2500, seed=3)
    manifest = json.loads((prepared / "gpu_check.json").read_text())
    assert manifest["models"][0]["samples"] == 2500
    out = tmp_path / "cpu.json"
    argv = ["run", "--dir", str(prepared), "--out", str(out), "--device", "cpu",
            "--threads", "1", "--budget-s", "20"]
    assert gpu_check.main(argv) == 0
    result = json.loads(out.read_text())
    model = result["models"][0]
    assert result["all_equal"] and model["check"]["sha256_equal"]
    assert model["check"]["sample_mismatches"] == 0
    assert [r["batch"] for r in model["predict"]] == [1, 10, 100, 1000]
    assert all(r["equal"] for r in model["executor"])
    assert model["bytes"]["io_bytes_per_sample_int64"] == (64 + 10) * 8
    assert result["machine"]["torch_threads"] == 1 and result["machine"]["gpu"] is None

    manifest["models"][0]["sha256"] = "0" * 64
    (prepared / "gpu_check.json").write_text(json.dumps(manifest))
    assert gpu_check.main(argv) == 1
    assert not json.loads(out.read_text())["models"][0]["check"]["equal"]
