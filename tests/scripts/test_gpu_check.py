"""scripts/gpu_check.py: inputs that every machine makes alike, and prepare + run end to end
on the CPU (the GPU machine runs the same with device="cuda")."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
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


@pytest.fixture(scope="module")
def prepared(digits_artifact: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits MLP prepared for 2,500 samples (its artifact from the session fixture)."""
    out = tmp_path_factory.mktemp("gpu_check") / "check"
    find = gpu_check._artifact_dir
    gpu_check._artifact_dir = lambda name: digits_artifact.path
    try:
        gpu_check.prepare(out, ["digits_mlp"], 2500, seed=3)
    finally:
        gpu_check._artifact_dir = find
    return out


def test_prepare_then_run_on_the_cpu(prepared: Path, tmp_path: Path) -> None:
    """About 10 s: every code equal (by hash, by sample rows), each batch size timed; then a
    changed hash is reported as a failure."""
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

    changed = tmp_path / "changed"
    shutil.copytree(prepared, changed)
    manifest["models"][0]["sha256"] = "0" * 64
    (changed / "gpu_check.json").write_text(json.dumps(manifest))
    assert gpu_check.main([*argv[:2], str(changed), *argv[3:]]) == 1
    assert not json.loads(out.read_text())["models"][0]["check"]["equal"]


def test_run_needs_no_framework_or_verilator(prepared: Path, tmp_path: Path) -> None:
    """As on the GPU machine: kiln from source (PYTHONPATH=sw), TensorFlow, hls4ml, QKeras,
    Keras and Verilator absent."""
    from tests.runtime.test_import_light import BLOCKER

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k != "KILN_FIXED_ACCEL"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if "verilator" not in p)
    env["PYTHONPATH"] = os.pathsep.join([str(hide), str(REPO / "sw")])
    out = tmp_path / "light.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "run", "--dir", str(prepared),
         "--out", str(out), "--device", "cpu", "--samples", "500", "--budget-s", "5"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text())["all_equal"]
