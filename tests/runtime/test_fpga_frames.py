"""The fpga driver with io_stream frames (a sample is several beats each way): a small padded
conv (20 input and 20 output beats per frame) through the simulated board, pyserial on a
pseudo-terminal and a fake PYNQ DMA that ends each receive transfer at tlast, as the AXI DMA
does; and the shipped digits CNN (64 input beats, one output beat) through Runtime.predict on
the simulated board and the fake DMA. Results must equal fpga-sim's, code for code."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.cnn.graphs import Chain, input_codes
from tests.runtime.test_fpga_driver import FakeBuffer, PtyBoard, fake_allocate

import kiln
from kiln.artifact import TopSources, pack_samples
from kiln.errors import InputShapeError
from kiln.fixed import execute
from kiln.rtl import emit_rtl, write_rtl
from kiln.runtime import (
    Driver,
    LinkFormat,
    PynqTransport,
    SerialTransport,
    SimulatedTransport,
    TransportTimeout,
)
from kiln.runtime._fpga_pynq import dma_batch
from kiln.runtime._fpga_serial import bridge_depth, uart_window
from kiln.sim import Emulator, StallPattern

pytestmark = pytest.mark.verilator

DIGITS_CNN = Path(__file__).parents[2] / "models" / "digits_cnn.h5"


class Conv:
    """A 4x5x2 input, 'same' 3x3 conv to 2 channels: frames of 20 beats each way."""

    def __init__(self, root: Path) -> None:
        self.graph = Chain((4, 5, 2), 7).pad((1, 1, 1, 1)).conv(2, (3, 3)).graph()
        write_rtl(emit_rtl(self.graph), root / "conv" / "rtl")
        self.design = TopSources.load(root / "conv")
        self.emulator = Emulator.build(self.design.rtl_dir, root / "sim")

    def codes(self, n: int, seed: int) -> np.ndarray:
        return input_codes(self.graph, n, seed)

    def expected(self, codes: np.ndarray) -> np.ndarray:
        """fpga-sim's codes, checked against kiln.fixed's."""
        got = self.emulator.run(codes).codes
        assert np.array_equal(got, execute(self.graph, torch.from_numpy(codes))["output"]
                              .numpy().reshape(len(codes), -1))
        return got


@pytest.fixture(scope="module")
def conv(tmp_path_factory: pytest.TempPathFactory) -> Conv:
    return Conv(tmp_path_factory.mktemp("frames"))


def test_a_sample_is_a_frame_on_the_link(conv: Conv) -> None:
    c = conv.design.contract
    assert (c.in_beats, c.in_elems, c.out_beats, c.out_elems) == (20, 2, 20, 2)
    link = LinkFormat.uart(conv.design)
    assert link.framed and (link.in_bytes, link.out_bytes) == (2, 2)
    assert (link.in_sample_bytes, link.out_sample_bytes) == (40, 40)
    codes = conv.codes(2, seed=1)
    assert link.encode(codes) == pack_samples(codes.reshape(40, 2), 6, True)
    with pytest.raises(InputShapeError, match=r"takes 40 codes per sample \(20 beat\(s\) of 2"):
        link.encode(codes[:, :2])
    # The bridge holds one frame (plus a spare beat) for the design: one frame in flight.
    assert (bridge_depth(c), uart_window(c)) == (21, 1)
    assert dma_batch(LinkFormat.dma(conv.design)) == 1   # a frame's results end in tlast


@pytest.mark.parametrize("link", ["serial", "pynq"])
@pytest.mark.parametrize("n", [1, 7])
def test_frames_through_the_simulated_board(conv: Conv, link: str, n: int) -> None:
    codes = conv.codes(n, seed=n)
    board = getattr(SimulatedTransport, link)(conv.emulator, conv.design,
                                              StallPattern(0.3, 0.3, seed=n))
    with board:
        assert (board.batch, board.max_in_flight) == (1, 1)
        got = Driver(board, timeout_s=5.0).run(codes)
    assert got.shape == (n, 40) and np.array_equal(got, conv.expected(codes))
    assert board.dropped == 0


def test_frames_over_a_pty(conv: Conv) -> None:
    codes = conv.codes(12, seed=3)
    pty = PtyBoard(SimulatedTransport.serial(conv.emulator, conv.design,
                                             StallPattern(0.3, 0.3, seed=3)))
    try:
        with SerialTransport(pty.port, LinkFormat.uart(conv.design)) as serial:
            assert (serial.batch, serial.max_in_flight) == (1, 1)
            assert serial.seconds_per_sample == pytest.approx(400 / 115200)
            got = Driver(serial).run(codes)
    finally:
        pty.close()
    assert np.array_equal(got, conv.expected(codes))


def test_two_frames_in_flight_overflow_the_bridge(conv: Conv) -> None:
    """A driver that sent two frames at once would lose beats in the bridge's FIFO; the
    simulated board drops them as the bridge does, the driver times out, and after its reset
    the board runs whole frames again."""
    c = conv.design.contract
    board = SimulatedTransport(conv.emulator, LinkFormat.uart(conv.design), batch=2,
                               max_in_flight=2, capacity=bridge_depth(c),
                               stall=StallPattern(0.3, 0.3, seed=4))
    with board:
        with pytest.raises(TransportTimeout, match=r"samples 0\.\.1 \(80 bytes\)"):
            Driver(board, timeout_s=0.3).run(conv.codes(2, seed=4))
        assert board.dropped == 2 * c.in_beats - bridge_depth(c)
        board.batch = board.max_in_flight = 1
        codes = conv.codes(3, seed=5)
        assert np.array_equal(Driver(board).run(codes), conv.expected(codes))


class TlastDma:
    """An AXI DMA around kiln_axis_dma_wrap with an io_stream kiln_top computed by
    ``compute``: kiln_top sets tlast on the last output beat of every frame, and a receive
    transfer ends at tlast, so each frame's results are one receive transfer (a buffer of
    another size would be a lost or short transfer on the board: refused here)."""

    def __init__(self, link: LinkFormat, compute: Callable[[np.ndarray], Any]) -> None:
        self.sent: list[bytes] = []
        self._link, self._compute = link, compute
        self._packets: deque[bytes] = deque()
        self._destination: Any = None
        dma = self

        class Receive:
            idle = True

            def transfer(self, buffer: Any) -> None:
                assert self.idle, "one receive transfer at a time (simple DMA mode)"
                dma._destination, self.idle = buffer, False
                dma._deliver()

        class Send:
            def transfer(self, buffer: Any) -> None:
                dma.sent.append(buffer.tobytes())
                dma._run(buffer.tobytes())
                dma._deliver()

        self.recvchannel, self.sendchannel = Receive(), Send()

    def _run(self, data: bytes) -> None:
        link, c = self._link, self._link.wire.contract
        assert len(data) % link.in_sample_bytes == 0, "whole frames only"
        beats = len(data) // link.in_bytes
        codes = link.decode_inputs(data, beats).reshape(-1, c.in_codes)
        for row in np.asarray(self._compute(codes)):
            self._packets.append(link.encode_outputs(row))   # tlast ends each frame

    def _deliver(self) -> None:
        if self._destination is None or not self._packets:
            return
        packet = self._packets.popleft()
        assert len(self._destination) == len(packet), (
            f"a {len(self._destination)}-byte receive transfer for a {len(packet)}-byte packet")
        self._destination[:] = np.frombuffer(packet, dtype=np.uint8)
        self._destination = None
        self.recvchannel.idle = True


def test_pynq_frames_with_a_tlast_dma(conv: Conv) -> None:
    link = LinkFormat.dma(conv.design)
    dma = TlastDma(link, lambda x: conv.emulator.run(x).codes)
    pynq = PynqTransport(dma, fake_allocate, link)
    assert pynq.batch == pynq.max_in_flight == 1
    codes = conv.codes(7, seed=6)
    FakeBuffer.freed = 0
    got = Driver(pynq).run(codes)
    assert np.array_equal(got, conv.expected(codes))
    assert [len(b) for b in dma.sent] == [20 * link.in_bytes] * 7   # one frame per transfer
    assert FakeBuffer.freed == 14


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped digits CNN (8x8x1 -> 10) compiled for io_stream: 64 beats per frame."""
    return kiln.compile(str(DIGITS_CNN), tmp_path_factory.mktemp("cnn") / "digits_cnn",
                        io_type="io_stream")


def digits(n: int) -> np.ndarray:
    from models.shipped import SHIPPED

    x, _ = next(m for m in SHIPPED if m.name == "digits_cnn").data()  # type: ignore[misc]
    return np.asarray(x[:n])


@pytest.mark.parametrize("spec", ["sim", "sim:pynq"])
def test_digits_cnn_on_the_simulated_board(digits_cnn: Any, spec: str) -> None:
    rt = kiln.load(digits_cnn.path)
    c = TopSources.load(digits_cnn.path).contract
    assert (c.in_beats, c.out_beats) == (64, 1)
    rt.device("fpga").attach(spec, timeout_s=10.0)   # SIM_STALL: random gaps both ways
    x = digits(50)
    for n in (1, 7, 50):
        got = rt.predict(x[:n], device="fpga", raw=True)
        assert np.array_equal(got, rt.predict(x[:n], device="fpga-sim", raw=True))
    rt.device("fpga").close()


def test_digits_cnn_with_a_tlast_dma(digits_cnn: Any) -> None:
    rt = kiln.load(digits_cnn.path)
    link = LinkFormat.dma(TopSources.load(digits_cnn.path))
    dma = TlastDma(link, lambda codes: rt.device("cpu").run(codes).outputs)
    rt.device("fpga").attach(PynqTransport(dma, fake_allocate, link))
    x = digits(20)
    got = rt.predict(x, device="fpga", raw=True)
    assert np.array_equal(got, rt.predict(x, device="fpga-sim", raw=True))
    assert len(dma.sent) == 20 and {len(b) for b in dma.sent} == {64 * link.in_bytes}
