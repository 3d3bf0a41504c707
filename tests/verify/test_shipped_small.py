"""The `make bitstream` default model (digits_mlp_small) is bit-exact end to end: RTL ==
HLS C simulation == kiln.fixed == QKeras on all 450 digits test samples, Icarus agrees, and
the cocotb protocol benches pass with the stated latency and II (slow)."""

from __future__ import annotations

import json

import pytest

from models.shipped import SHIPPED


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_digits_mlp_small_bit_exact_everywhere() -> None:
    from models.shipped import compile_and_verify

    model = {m.name: m for m in SHIPPED}["digits_mlp_small"]
    report = compile_and_verify(model)
    assert report.samples == 450
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    assert report.protocol_passed and report.protocol_mismatches == 0
    assert (report.latency_measured, report.ii_measured) == (report.latency, report.ii)
    metrics = json.loads(model.path.with_suffix(".metrics.json").read_text())
    assert report.accuracy == metrics["quantized_accuracy"]
