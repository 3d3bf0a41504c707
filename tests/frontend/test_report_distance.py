"""The comparison report states argmax agreement with the framework model and warns when
hardware is bit-exact with HLS but far from the model (issue 14: 0.2002 for every class)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kiln.runtime import ComparisonReport, DeviceResult
from kiln.runtime._report import ModelDistance


class _Result:
    def __init__(self, outputs: np.ndarray) -> None:
        self.outputs, self.seconds, self.cycles = outputs, 0.1, None


def _report(values: np.ndarray, reference: np.ndarray) -> ComparisonReport:
    codes = np.round(values * 1024).astype(np.int64)
    row = DeviceResult.measure("cpu", _Result(codes), values, codes, reference, 2.0 ** -10,
                               None, 0.001)
    return ComparisonReport("m", len(values), "hls", (row,))


def test_classifier_far_from_model_warns(caplog: pytest.LogCaptureFixture) -> None:
    reference = np.random.default_rng(0).uniform(size=(100, 5))
    constant = np.full((100, 5), 0.2002)  # the same answer for every input
    with caplog.at_level(logging.WARNING):
        report = _report(constant, reference)
    row = report.row("cpu")
    assert row.argmax_vs_reference is not None and row.argmax_vs_reference < 0.9
    assert report.all_bit_exact and len(report.warnings) == 1
    assert "bit-exact with hls but far from the framework model" in str(report)
    assert "argmax agrees" in caplog.text
    assert report.to_dict()["warnings"] == list(report.warnings)


def test_close_classifier_and_regression_distance() -> None:
    reference = np.random.default_rng(1).uniform(size=(100, 5))
    assert not _report(reference, reference).warnings
    one = ModelDistance.measure(np.zeros((10, 1)), np.linspace(0, 1, 10).reshape(10, 1), 0.5)
    assert one.argmax_agreement is None and one.far is not None and one.max_lsb == 2.0
