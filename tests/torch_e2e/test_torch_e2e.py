"""PyTorch models end to end, from saved files through the `kiln` command: Brevitas and plain
torch.nn digits MLPs compiled, then verified over all 450 test samples on every level (RTL in
Verilator and Icarus, cocotb protocol bench, HLS C simulation, kiln.fixed, framework model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import kiln
from kiln.cli import main as kiln_main
from kiln.fixed import from_float
from kiln.frontend import infer_fixed_point
from kiln.verify import verify

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.verilator, pytest.mark.icarus]
pytest.importorskip("brevitas")


def _compile(args: list[str]) -> None:
    assert kiln_main(["compile", *args]) == 0


def test_brevitas_mlp_is_bit_exact_on_every_level(digits_data, tmp_path: Path) -> None:
    from models.digits_mlp_brevitas import QONNX_FILE, load_model, predict

    out = tmp_path / "digits_mlp_brevitas"
    _compile([str(QONNX_FILE), "-o", str(out)])
    _, x_test, _, y_test = digits_data
    report = verify(out, x=x_test, labels=y_test)
    assert report.samples == 450
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    assert report.max_lsb_vs_reference == 0 and report.protocol_passed and report.passed
    assert report.accuracy is not None and report.accuracy > 0.95

    runtime = kiln.load(out)
    rtl_codes = runtime.predict(x_test, device="fpga-sim", raw=True)
    # The Brevitas module itself (not its QONNX export) gives the same integer codes.
    brevitas = predict(load_model(), x_test).astype(np.float64)
    out_type = runtime.graph.output.out_type
    assert np.array_equal(from_float(torch.from_numpy(brevitas), out_type).numpy(), rtl_codes)
    rep = runtime.compare(x_test, devices=["reference", "hls", "fpga-sim", "cpu"], y_true=y_test)
    assert rep.all_bit_exact and all(rep.row(d).mismatches == 0
                                     for d in ("hls", "fpga-sim", "cpu"))
    assert rep.row("fpga-sim").max_lsb_vs_reference == 0


def test_plain_torch_mlp_rtl_equals_hls(digits_data, tmp_path: Path) -> None:
    from models.digits_mlp_torch import MODEL_FILE

    out = tmp_path / "digits_mlp_torch"
    _compile([str(MODEL_FILE), "-o", str(out), "--input-shape", "64",
              "--precision", "fixed<8,4>"])
    art = kiln.load(out).artifact
    assert art.manifest.framework == "torchscript" and not art.manifest.reference_bit_exact
    assert art.manifest.input_type == "fixed<8,4,TRN,WRAP>"
    _, x_test, _, y_test = digits_data
    report = verify(out, x=x_test, labels=y_test)
    assert report.samples == 450
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.icarus_mismatches) == (0, 0, 0)
    # A float model defines no types: the reference is compared in LSBs, not for equality.
    assert report.rtl_vs_reference_mismatches is None and report.passed
    # fixed<8,4> holds the ReLU outputs (up to 12.7 on these data); fixed<8,3> wraps them.
    assert report.accuracy is not None and report.accuracy > 0.9


def test_inferred_fixed_point_mlp_is_bit_exact_on_every_level(digits_data,
                                                              tmp_path: Path) -> None:
    from models.digits_mlp_torch import MODEL_FILE

    x_train, x_test, _, y_test = digits_data
    inferred = infer_fixed_point(MODEL_FILE, x_train, (64,), bits=8)
    art = kiln.compile(inferred.model, tmp_path / "digits_mlp_inferred")
    assert art.manifest.framework == "qonnx" and art.manifest.reference_bit_exact
    report = verify(art.path, x=x_test, labels=y_test, protocol=False)
    # Every type is now defined by the inferred quantizers: the reference is compared exactly.
    assert (report.samples, report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (450, 0, 0, 0, 0)
    assert report.accuracy is not None and report.accuracy > 0.95
