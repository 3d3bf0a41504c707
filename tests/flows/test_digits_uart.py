"""The digits MLP as kiln.rtl generates it, behind the UART bridge in Verilator: the results
that come back over the simulated serial line, from the bench and from the runtime's serial
driver, equal kiln.fixed's, code for code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.artifact import TopSources, WireFormat
from kiln.flows import plan_bitstream
from kiln.runtime import Driver, LinkFormat, SerialTransport
from kiln.sim import run_uart_bench, simulated_serial_board


@pytest.mark.slow
@pytest.mark.verilator
def test_digits_over_the_uart_bridge(digits_artifact: Any, digits_data: Any,
                                     tmp_path: Path) -> None:
    import kiln

    rt = kiln.load(digits_artifact.path)
    x = digits_data[1][:8]
    codes = np.asarray(rt.input_codes(x)).reshape(len(x), -1)
    want = rt.predict(x, device="cpu", raw=True).reshape(len(x), -1)
    report = run_uart_bench(digits_artifact.path, codes, want, tmp_path / "bench")
    assert report.passed, report.tests
    assert report.tests["windowed_stream"]["received"] == 8
    # the runtime's serial driver, through the same Verilator build
    with simulated_serial_board(digits_artifact.path, tmp_path / "bench") as board:
        design = TopSources.load(digits_artifact.path)
        with SerialTransport(board.url, LinkFormat.uart(design)) as port:
            np.testing.assert_array_equal(Driver(port, timeout_s=60).run(codes), want)
    assert board.report is not None and board.report.passed, board.report
    fmt = WireFormat.of(design.contract)
    assert (fmt.in_bytes, fmt.out_bytes) == (48, 20)
    plan = plan_bitstream(digits_artifact.path, "ulx3s-85f")
    assert "-chparam IN_BITS 384 -chparam OUT_BITS 160" in plan.text("synth.ys")
