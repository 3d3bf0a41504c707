"""The runtime on the compiled digits artifact: devices agree, bad input is refused clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln.errors import ArtifactError, DeviceError, InputShapeError


@pytest.fixture(scope="module")
def runtime(digits_artifact):  # type: ignore[no-untyped-def]
    return kiln.load(digits_artifact.path)


def test_cpu_equals_hls_codes_and_values(runtime, digits_data) -> None:  # type: ignore[no-untyped-def]
    x = digits_data[1]
    cpu = runtime.predict(x, device="cpu", raw=True)
    hls = runtime.predict(x, device="hls", raw=True)
    assert cpu.dtype == np.int64 and cpu.shape == (len(x), 10)
    assert np.array_equal(cpu, hls)
    values = runtime.predict(x, device="cpu")
    assert np.array_equal(values, cpu * 2.0 ** -runtime.graph.output.out_type.frac)


def test_single_sample_and_auto(runtime, digits_data) -> None:  # type: ignore[no-untyped-def]
    one = digits_data[1][0]
    assert runtime.predict(one, device="auto", raw=True).shape == (1, 10)
    assert runtime.resolve("auto") == "cpu"  # no board, no GPU here


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((3, 63)), r"shape \(3, 63\).*\(n, 64\)"),
        (np.zeros((2, 8, 8)), r"shape \(2, 8, 8\)"),
        (np.array([["a"] * 64]), "must be numbers"),
    ],
)
def test_wrong_inputs(runtime, x, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputShapeError, match=message):
        runtime.predict(x, device="cpu")


def test_nan_is_refused_and_inf_saturates(runtime) -> None:  # type: ignore[no-untyped-def]
    x = np.zeros((2, 64))
    x[1, 5] = np.nan
    with pytest.raises(InputShapeError, match="NaN .*sample 1, element 5"):
        runtime.predict(x, device="cpu")
    t = runtime.graph.input.out_type
    x = np.zeros((1, 64))
    x[0, 0], x[0, 1] = np.inf, -np.inf
    codes = runtime.input_codes(x)
    assert (codes[0, 0], codes[0, 1]) == (t.max_code, t.min_code)


def test_unknown_and_absent_devices(runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeviceError, match="Unknown device 'tpu'.*fpga-sim"):
        runtime.predict(np.zeros(64), device="tpu")
    with pytest.raises(DeviceError, match="fpga-sim"):
        runtime.predict(np.zeros(64), device="fpga")


def test_artifact_integrity(digits_artifact, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "copy"
    shutil.copytree(digits_artifact.path, copy)
    (copy / "rtl" / "kiln_top.v").write_text("// tampered\n")
    with pytest.raises(ArtifactError, match="changed rtl/kiln_top.v"):
        kiln.load(copy)
    (copy / "model" / "kiln_ir.json").unlink()
    with pytest.raises(ArtifactError, match="missing model/kiln_ir.json"):
        kiln.load(copy)
    (copy / "kiln.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        kiln.load(copy)
    with pytest.raises(ArtifactError, match="not a kiln artifact"):
        kiln.load(tmp_path / "empty")


def test_manifest_contents(digits_artifact) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((digits_artifact.path / "kiln.json").read_text())
    assert manifest["input_shape"] == [64] and manifest["output_shape"] == [10]
    assert manifest["options"]["io_type"] == "io_parallel" and manifest["ii"] == 1
    assert manifest["latency"] > 0 and manifest["reference_bit_exact"] is True
    assert "rtl/kiln_top.v" in manifest["files"] and "model/kiln_ir.json" in manifest["files"]


def test_recompile_is_reused(digits_artifact) -> None:  # type: ignore[no-untyped-def]
    before = (digits_artifact.path / "kiln.json").stat().st_mtime_ns
    model = Path(__file__).resolve().parents[2] / "models" / "digits_mlp.h5"
    again = kiln.compile(str(model), digits_artifact.path)
    assert again.manifest == digits_artifact.manifest
    assert (digits_artifact.path / "kiln.json").stat().st_mtime_ns == before


@pytest.mark.verilator
def test_compare_report(runtime, digits_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, x, _, y = digits_data
    rep = runtime.compare(x, y_true=y, devices=["reference", "hls", "fpga-sim", "cpu"])
    assert rep.all_bit_exact and rep.baseline == "hls" and rep.samples == len(x)
    for name in ("hls", "fpga-sim", "cpu"):
        row = rep.row(name)
        assert (row.mismatches, row.bit_exact_rate) == (0, 1.0)
        assert row.max_lsb_vs_reference == 0.0  # QKeras defines every type of this model
        assert row.accuracy == rep.row("reference").accuracy > 0.9
        assert row.samples_per_s > 0 and row.latency_ms > 0
    assert rep.row("reference").mismatches is None  # float outputs: compared in LSBs only
    assert rep.row("fpga-sim").cycles >= len(x)
    data = json.loads(rep.to_json())
    assert data["all_bit_exact"] and len(data["devices"]) == 4
    assert "fpga-sim" in str(rep) and rep.plot(tmp_path / "compare.png").stat().st_size > 0
