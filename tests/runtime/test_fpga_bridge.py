"""The fpga driver and its serial transport against the real UART bridge: ``kiln_uart_top``
around the tiny model's ``kiln_top`` in Verilator (the bridge's cocotb bench as a board on a
TCP socket). Results must equal fpga-sim's, code for code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.artifact import TopSources
from kiln.runtime import Driver, LinkFormat, SerialTransport
from kiln.sim import simulated_serial_board


@pytest.mark.slow
@pytest.mark.verilator
def test_driver_through_the_uart_bridge_rtl(tiny: Any, tmp_path: Path) -> None:
    rt = kiln.load(tiny.path)
    t = rt.graph.input.out_type
    codes = np.random.default_rng(11).integers(t.min_code, t.max_code + 1, size=(20, 6))
    with simulated_serial_board(tiny.path, tmp_path / "bridge") as board:
        with SerialTransport(board.url, LinkFormat.uart(TopSources.load(tiny.path))) as serial:
            got = Driver(serial, timeout_s=10.0).run(codes)
    assert np.array_equal(got, rt.device("fpga-sim").run(codes).outputs)
    assert board.report is not None and board.report.passed
