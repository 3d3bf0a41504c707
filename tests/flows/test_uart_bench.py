"""The UART bridge, simulated: cocotb drives the board top's serial lines with the wire format
of kiln.flows (pack_samples / unpack_outputs) and checks every result exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flow_helpers import tiny_reference

from kiln.errors import InputShapeError
from kiln.sim import UART_BENCH_TESTS, run_uart_bench

pytestmark = pytest.mark.verilator


def test_uart_bridge_bench(uart_bench_tiny: tuple[Path, Path]) -> None:
    artifact, work = uart_bench_tiny
    rng = np.random.default_rng(1)
    x = rng.integers(-32, 32, size=(24, 4))
    x[0] = [-32, -32, 31, -32]    # the extremes of both outputs
    x[1] = [31, 31, -32, 31]
    report = run_uart_bench(artifact, x, tiny_reference(x), work)
    assert set(report.tests) == set(UART_BENCH_TESTS)
    for name, test in report.tests.items():
        assert test["cocotb_passed"] and test["passed"], (name, test)
        assert test["mismatches"] == 0 and test["frame_errors"] == 0
    assert report.tests["windowed_stream"]["received"] == 24
    assert report.tests["back_to_back"]["received"] == 24
    assert report.passed


def test_uart_bench_checks_its_inputs(tiny_artifact: Path, tmp_path: Path) -> None:
    x = np.zeros((8, 3), dtype=np.int64)
    with pytest.raises(InputShapeError, match=r"\(n, 4\) integer codes"):
        run_uart_bench(tiny_artifact, x, np.zeros((8, 2), dtype=np.int64), tmp_path)
