"""io_stream frames through the UART bridge RTL (``kiln_uart_top`` with ``IN_BEATS``): the
cocotb bench on a small padded conv (20 two-byte beats in and out per frame), and the
runtime's serial driver running the shipped digits CNN against the simulated board."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.cnn.graphs import Chain, input_codes

from kiln.artifact import TopSources
from kiln.fixed import execute
from kiln.rtl import emit_rtl, write_rtl
from kiln.runtime import Driver, LinkFormat, SerialTransport
from kiln.sim import UART_BENCH_TESTS, run_uart_bench, simulated_serial_board

pytestmark = pytest.mark.verilator

DIGITS_CNN = Path(__file__).parents[2] / "models" / "digits_cnn.h5"


def test_uart_bridge_bench_with_frames(tmp_path: Path) -> None:
    graph = Chain((4, 5, 2), 7).pad((1, 1, 1, 1)).conv(2, (3, 3)).graph()
    write_rtl(emit_rtl(graph), tmp_path / "conv" / "rtl")
    c = TopSources.load(tmp_path / "conv").contract
    assert (c.in_beats, c.out_beats, c.in_bits, c.out_bits) == (20, 20, 12, 16)
    x = input_codes(graph, 6, seed=2)
    want = execute(graph, torch.from_numpy(x))["output"].numpy().reshape(len(x), -1)
    report = run_uart_bench(tmp_path / "conv", x, want, tmp_path / "work")
    assert set(report.tests) == set(UART_BENCH_TESTS)
    for name, test in report.tests.items():
        assert test["cocotb_passed"] and test["passed"], (name, test)
    assert report.tests["windowed_stream"]["received"] == 6
    assert report.tests["back_to_back"]["received"] == 6   # 40 bytes out per 40 in


@pytest.mark.slow
def test_digits_cnn_over_the_simulated_serial_board(tmp_path: Path) -> None:
    import kiln
    from models.shipped import SHIPPED

    art = kiln.compile(str(DIGITS_CNN), tmp_path / "digits_cnn", io_type="io_stream")
    rt = kiln.load(art.path)
    x, _ = next(m for m in SHIPPED if m.name == "digits_cnn").data()  # type: ignore[misc]
    codes = np.asarray(rt.input_codes(x[:5])).reshape(5, -1)
    with simulated_serial_board(art.path, tmp_path / "bench") as board:
        with SerialTransport(board.url, LinkFormat.uart(TopSources.load(art.path))) as port:
            assert port.max_in_flight == 1
            got = Driver(port, timeout_s=60).run(codes)
    assert board.report is not None and board.report.passed, board.report
    link = board.report.tests["serial_link"]
    assert (link["samples"], link["received"], link["frame_errors"]) == (5, 5, 0)
    assert link["host_bytes"] == 5 * 64 and link["board_bytes"] == 5 * 19   # 6 / 150 bits
    want = np.asarray(rt.predict(x[:5], device="fpga-sim", raw=True)).reshape(5, -1)
    np.testing.assert_array_equal(got, want)
