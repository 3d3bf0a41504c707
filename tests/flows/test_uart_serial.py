"""The runtime's serial driver against the UART board top in Verilator: the bench makes the
board's serial port a TCP socket (pyserial ``socket://``), so the driver code that talks to a
real ULX3S or iCEBreaker runs unchanged against the simulated board."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flow_helpers import tiny_reference

from kiln.artifact import TopSources
from kiln.runtime import Driver, LinkFormat, SerialTransport
from kiln.sim import simulated_serial_board

pytestmark = pytest.mark.verilator


def _drive(artifact: Path, codes: np.ndarray, work: Path) -> tuple[np.ndarray, dict]:
    """Run ``codes`` through the runtime's serial driver into the simulated board."""
    with simulated_serial_board(artifact, work) as board:
        with SerialTransport(board.url, LinkFormat.uart(TopSources.load(artifact))) as port:
            got = Driver(port, timeout_s=60).run(codes)
    assert board.report is not None and board.report.passed, board.report
    return got, board.report.tests["serial_link"]


def test_serial_driver_through_the_simulated_board(
        uart_bench_tiny: tuple[Path, Path]) -> None:
    artifact, work = uart_bench_tiny
    rng = np.random.default_rng(3)
    x = rng.integers(-32, 32, size=(9, 4))
    x[0] = [-32, -32, 31, -32]    # the extremes of both outputs
    got, link = _drive(artifact, x, work)
    np.testing.assert_array_equal(got, tiny_reference(x))
    assert (link["samples"], link["received"], link["frame_errors"]) == (9, 9, 0)
    assert link["host_bytes"] == 9 * 3 and link["board_bytes"] == 9 * 3   # 24 / 20 bits


@pytest.mark.slow
def test_compiled_model_over_serial_equals_fpga_sim(tiny_mlp_artifact: Path,
                                                   tmp_path: Path) -> None:
    import kiln

    rt = kiln.load(tiny_mlp_artifact)
    x = np.random.default_rng(5).uniform(-2, 2, size=(16, 16)).astype(np.float32)
    codes = np.asarray(rt.input_codes(x)).reshape(len(x), -1)
    got, link = _drive(tiny_mlp_artifact, codes, tmp_path / "bench")
    want = np.asarray(rt.predict(x, device="fpga-sim", raw=True)).reshape(len(x), -1)
    np.testing.assert_array_equal(got, want)
    assert link["received"] == 16 and link["frame_errors"] == 0
