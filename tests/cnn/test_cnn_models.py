"""The shipped CNNs end to end (slow): RTL codes equal to the HLS C simulation, kiln.fixed
and QKeras on all 450 digits test samples; the Conv1D jet tagger equal to the HLS C
simulation on 2,000 random inputs; Icarus agrees on a subset; cocotb benches pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.shipped import SHIPPED, ShippedModel

CNNS = {m.name: m for m in SHIPPED if m.io_type == "io_stream"}


def _verify(model: ShippedModel, tmp_path: Path, protocol: bool):  # type: ignore[no-untyped-def]
    import kiln
    from kiln.verify import verify

    if not model.path.is_file():
        pytest.skip(f"{model.path} not found")
    kiln.compile(str(model.path), tmp_path / model.name, io_type=model.io_type,
                 precision=model.precision)
    if model.data is None:
        return verify(tmp_path / model.name, samples=model.random_samples, protocol=protocol)
    x, y = model.data()
    return verify(tmp_path / model.name, x=x, labels=y, protocol=protocol)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
@pytest.mark.parametrize(("name", "protocol"), [("digits_cnn", True),
                                                ("digits_cnn_sep", False)])
def test_digits_cnn_bit_exact_everywhere(name: str, protocol: bool, tmp_path: Path) -> None:
    report = _verify(CNNS[name], tmp_path, protocol)
    assert report.samples == 450
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    metrics = json.loads(CNNS[name].path.with_suffix(".metrics.json").read_text())
    assert report.accuracy == metrics["quantized_accuracy"]
    if protocol:
        assert report.protocol_passed and report.protocol_mismatches == 0
        assert (report.latency_measured, report.ii_measured) == (report.latency, report.ii)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_jet_conv1d_bit_exact_against_hls(tmp_path: Path) -> None:
    report = _verify(CNNS["jet_conv1d"], tmp_path, protocol=False)
    assert report.samples == 2000
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.icarus_mismatches) == (0, 0, 0)
