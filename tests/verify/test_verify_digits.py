"""`kiln verify` on the shipped digits model: every level, end to end, on the whole test split."""

from __future__ import annotations

import json

import pytest

from kiln.cli import main
from kiln.verify import verify


@pytest.mark.verilator
@pytest.mark.icarus
def test_digits_test_split_is_bit_exact_at_every_level(  # type: ignore[no-untyped-def]
        digits_artifact, digits_data) -> None:
    _, x_test, _, y_test = digits_data
    report = verify(digits_artifact.path, x=x_test, labels=y_test)
    assert report.samples == len(x_test) >= 360
    assert report.rtl_vs_hls_mismatches == 0
    assert report.rtl_vs_cpu_mismatches == 0
    assert report.rtl_vs_reference_mismatches == 0  # QKeras defines every type here
    assert report.icarus_samples >= 100 and report.icarus_mismatches == 0
    assert report.protocol_passed and report.protocol_samples >= 300
    assert report.protocol_mismatches == 0
    assert (report.latency_measured, report.ii_measured) == (report.latency, 1.0)
    assert report.accuracy is not None and report.accuracy > 0.9
    written = json.loads((digits_artifact.path / "reports" / "verification.json").read_text())
    assert written["passed"] and written["samples"] == len(x_test)

    # The command line: random codes over the input type, exit status 0 on a pass.
    assert main(["verify", str(digits_artifact.path), "--samples", "2000", "--no-protocol"]) == 0
    random = json.loads((digits_artifact.path / "reports" / "verification.json").read_text())
    assert random["samples"] == 2000 and random["rtl_vs_reference_mismatches"] == 0
