"""The fpga device's driver, end to end without a board: through the simulated board (the
Verilated design behind a stalling link), through pyserial on a pseudo-terminal, and through
PYNQ's DMA interface with a fake DMA. Results must equal fpga-sim's, code for code."""

from __future__ import annotations

import logging
import os
import select
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.artifact import TopSources
from kiln.errors import DeviceError, InputShapeError
from kiln.runtime import (
    Driver,
    LinkFormat,
    PynqTransport,
    SerialTransport,
    SimulatedTransport,
    Transport,
    TransportTimeout,
)
from kiln.sim import Emulator, StallPattern

pytestmark = pytest.mark.verilator

STALLS = StallPattern(in_gap=0.3, out_gap=0.3, seed=7)


@pytest.fixture(scope="module")
def runtime(tiny: Any) -> Any:
    return kiln.load(tiny.path)


@pytest.fixture(scope="module")
def emulator(tiny: Any) -> Emulator:
    return Emulator.build(tiny.path / "rtl", tiny.path / "sim")   # fpga-sim's own build


@pytest.fixture(scope="module")
def design(tiny: Any) -> TopSources:
    return TopSources.load(tiny.path)


def random_codes(runtime: Any, n: int, seed: int) -> np.ndarray:
    t = runtime.graph.input.out_type
    return np.random.default_rng(seed).integers(t.min_code, t.max_code + 1,
                                                size=(n, runtime.graph.input.size))


@pytest.fixture
def no_board(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KILN_FPGA", raising=False)


@pytest.mark.parametrize("link", ["serial", "pynq"])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_round_trip_equals_fpga_sim(runtime: Any, emulator: Emulator, design: TopSources,
                                    link: str, n: int) -> None:
    codes = random_codes(runtime, n, seed=n)
    expected = runtime.device("fpga-sim").run(codes).outputs
    board = getattr(SimulatedTransport, link)(emulator, design, StallPattern(0.3, 0.3, seed=n))
    fpga = runtime.device("fpga")
    fpga.attach(board, timeout_s=5.0)
    try:
        got = fpga.run(codes).outputs
    finally:
        board.close()
    assert got.dtype == np.int64 and got.shape == (n, 3)
    assert np.array_equal(got, expected)
    assert board.dropped == 0


def test_the_simulated_link_stalls(emulator: Emulator, design: TopSources, runtime: Any) -> None:
    """Stalls cost clock cycles: the same samples take longer than at full rate."""
    codes = random_codes(runtime, 200, seed=1)
    cycles = []
    for stall in (StallPattern(), STALLS):
        with SimulatedTransport.pynq(emulator, design, stall) as board:
            Driver(board).run(codes)
            cycles.append(board.cycles)
    assert cycles[1] > cycles[0] + 100


def test_a_sample_dropped_by_the_board_is_a_timeout(emulator: Emulator, design: TopSources,
                                                    runtime: Any) -> None:
    """A driver that ignored the UART bridge's window would lose samples; the simulated
    board drops them as the bridge does, and the driver reports it, quickly."""
    board = SimulatedTransport(emulator, LinkFormat.uart(design), batch=4, max_in_flight=4,
                               capacity=2, stall=STALLS)
    start = time.monotonic()
    with board, pytest.raises(TransportTimeout, match=r"samples 0\.\.3 \(20 bytes\) and got 10"):
        Driver(board, timeout_s=0.2).run(random_codes(runtime, 8, seed=2))
    assert time.monotonic() - start < 2.0
    assert board.dropped == 2


class PtyBoard:
    """The far end of a pseudo-terminal: the simulated board answering over 'serial'."""

    def __init__(self, board: SimulatedTransport | None) -> None:
        self.master, self._slave = os.openpty()   # kept open: without it the master sees EIO
        self.port = os.ttyname(self._slave)
        self._board = board
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            data = os.read(self.master, 4096) if ready else b""
            if self._board is not None:
                self._board.write(data)
                os.write(self.master, self._board.read(1 << 16, 0.02))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.master)
        os.close(self._slave)


def test_serial_transport_over_a_pty(emulator: Emulator, design: TopSources, runtime: Any) -> None:
    codes = random_codes(runtime, 50, seed=3)
    pty = PtyBoard(SimulatedTransport.serial(emulator, design, STALLS))
    try:
        with SerialTransport(pty.port, LinkFormat.uart(design)) as serial:
            assert (serial.batch, serial.max_in_flight) == (1, 2)
            got = Driver(serial).run(codes)
    finally:
        pty.close()
    assert np.array_equal(got, runtime.device("fpga-sim").run(codes).outputs)


def test_silent_serial_board_times_out(design: TopSources, runtime: Any) -> None:
    pty = PtyBoard(None)
    start = time.monotonic()
    try:
        with SerialTransport(pty.port, LinkFormat.uart(design)) as serial, \
                pytest.raises(TransportTimeout, match=r"serial .* got 0 bytes.*kiln program"):
            Driver(serial, timeout_s=0.3).run(random_codes(runtime, 3, seed=4))
    finally:
        pty.close()
    assert time.monotonic() - start < 2.0


def test_serial_port_that_does_not_exist(design: TopSources) -> None:
    with pytest.raises(DeviceError, match="Cannot open serial port '/dev/kiln-none'"):
        SerialTransport("/dev/kiln-none", LinkFormat.uart(design))


class FakeBuffer(np.ndarray):
    """pynq.allocate's buffer, without the contiguous memory."""

    freed = 0

    def flush(self) -> None:
        pass

    def invalidate(self) -> None:
        pass

    def freebuffer(self) -> None:
        FakeBuffer.freed += 1


def fake_allocate(shape: tuple[int, ...], dtype: Any) -> FakeBuffer:
    return np.zeros(shape, dtype=dtype).view(FakeBuffer)


class FakeDma:
    """An AXI DMA around kiln_axis_dma_wrap whose design is kiln.fixed (the cpu device)."""

    def __init__(self, runtime: Any, link: LinkFormat, answers: bool = True) -> None:
        self.sent: list[bytes] = []
        self._runtime, self._link, self._answers = runtime, link, answers
        self._destination: Any = None
        dma = self

        class Receive:
            idle = False

            def transfer(self, buffer: Any) -> None:
                dma._destination, self.idle = buffer, False

        class Send:
            def transfer(self, buffer: Any) -> None:
                dma.sent.append(buffer.tobytes())
                if dma._answers:
                    dma._compute(buffer.tobytes())

        self.recvchannel, self.sendchannel = Receive(), Send()

    def _compute(self, data: bytes) -> None:
        n = len(data) // self._link.in_bytes
        beats = np.frombuffer(data, dtype=np.uint8).reshape(n, self._link.in_bytes)
        assert not beats[:, self._link.wire.in_bytes:].any()   # zeros above the sample
        codes = self._link.decode_inputs(data, n)
        out = self._link.encode_outputs(self._runtime.device("cpu").run(codes).outputs)
        self._destination[:] = np.frombuffer(out, dtype=np.uint8)
        self.recvchannel.idle = True


def test_pynq_packing_with_a_fake_dma(runtime: Any, design: TopSources) -> None:
    link = LinkFormat.dma(design)
    assert (link.in_bytes, link.out_bytes) == (8, 8)   # 36 and 33 bits in 64-bit DMA beats
    dma = FakeDma(runtime, link)
    pynq = PynqTransport(dma, fake_allocate, link)
    assert pynq.batch == pynq.max_in_flight == 1 << 16
    pynq.batch = pynq.max_in_flight = 3          # so that 7 samples take three transfers
    codes = random_codes(runtime, 7, seed=5)
    codes[0] = [1, -1, 0, 31, -32, 5]
    FakeBuffer.freed = 0
    got = Driver(pynq).run(codes)
    assert np.array_equal(got, runtime.device("cpu").run(codes).outputs)
    assert [len(b) for b in dma.sent] == [24, 24, 8]
    beat = sum((c & 63) << (6 * i) for i, c in enumerate(codes[0].tolist()))
    assert dma.sent[0][:8] == beat.to_bytes(8, "little")
    assert FakeBuffer.freed == 6


def test_pynq_dma_that_never_finishes_times_out(runtime: Any, design: TopSources) -> None:
    link = LinkFormat.dma(design)
    pynq = PynqTransport(FakeDma(runtime, link, answers=False), fake_allocate, link)
    start = time.monotonic()
    with pytest.raises(TransportTimeout, match=r"pynq: waited 0\.2 s .* got 0 bytes"):
        Driver(pynq, timeout_s=0.2).run(random_codes(runtime, 4, seed=6))
    assert time.monotonic() - start < 2.0
    pynq.close()


def test_pynq_needs_the_pynq_package(design: TopSources) -> None:
    with pytest.raises(DeviceError, match="needs the `pynq` package"):
        PynqTransport.load(Path("kiln.bit"), LinkFormat.dma(design))


class HalfTransport(Transport):
    """A link that loses the second half of every answer."""

    link: LinkFormat

    def __init__(self, link: LinkFormat) -> None:
        self.link = link

    @property
    def name(self) -> str:
        return "half link"

    def write(self, data: bytes) -> None:
        pass

    def read(self, nbytes: int, timeout_s: float) -> bytes:
        return bytes(nbytes // 2)

    def close(self) -> None:
        pass


def test_short_read_and_bad_inputs(design: TopSources) -> None:
    link = LinkFormat.uart(design)
    with pytest.raises(TransportTimeout, match=r"half link: .*0\.\.0 \(5 bytes\) and got 2"):
        Driver(HalfTransport(link)).run(np.zeros((2, 6), dtype=np.int64))
    with pytest.raises(InputShapeError, match="takes 6"):
        Driver(HalfTransport(link)).run(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(DeviceError, match="timeout must be positive"):
        Driver(HalfTransport(link), timeout_s=0)


def test_no_board_says_how_to_attach_one(tiny: Any, no_board: None) -> None:
    rt = kiln.load(tiny.path)
    with pytest.raises(DeviceError, match=r"none is attached.*KILN_FPGA=serial:/dev/ttyUSB0"
                                          r".*KILN_FPGA=sim.*fpga-sim"):
        rt.predict(np.zeros(6), device="fpga")


def test_transport_specs_and_bitstreams(tiny: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(tiny.path, copy)
    rt = kiln.load(copy)
    monkeypatch.setenv("KILN_FPGA", "usb")
    with pytest.raises(DeviceError, match=r"\$KILN_FPGA: 'usb' is not an fpga transport; "
                                          r"use one of: pynq, .*serial:PORT@BAUD"):
        rt.predict(np.zeros(6), device="fpga")
    monkeypatch.setenv("KILN_FPGA", "serial:/dev/kiln-none@9600")
    with pytest.raises(DeviceError, match=r"holds no open-board \(UART bridge\) bitstream.*"
                                          r"kiln bitstream .* --board ulx3s-85f"):
        rt.predict(np.zeros(6), device="fpga")
    (copy / "bitstream" / "ulx3s-85f").mkdir(parents=True)
    (copy / "bitstream" / "ulx3s-85f" / "kiln.bit").write_bytes(b"bits")
    with pytest.raises(DeviceError, match="no serial port /dev/kiln-none; is the board"):
        rt.predict(np.zeros(6), device="fpga")
    rt.device("fpga").attach("pynq:pynq-z2")   # attach() wins over $KILN_FPGA
    with pytest.raises(DeviceError, match=r"attach\(\) selects pynq.*no Zynq \(AXI DMA\) "
                                          r"bitstream for pynq-z2"):
        rt.predict(np.zeros(6), device="fpga")
    for board in ("pynq-z2", "zcu104"):
        (copy / "bitstream" / board).mkdir()
        (copy / "bitstream" / board / "kiln.bit").write_bytes(b"bits")
        (copy / "bitstream" / board / "kiln.hwh").write_text("<hwh/>")
    rt.device("fpga").attach("pynq")
    with pytest.raises(DeviceError, match="bitstreams for pynq-z2, zcu104; say which board"):
        rt.predict(np.zeros(6), device="fpga")
    rt.device("fpga").attach("pynq:zcu104")
    with pytest.raises(DeviceError, match="the `pynq` package is not installed"):
        rt.predict(np.zeros(6), device="fpga")


def test_auto_order_says_what_ran_and_why(tiny: Any, runtime: Any, no_board: None,
                                          monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    rt = kiln.load(tiny.path)
    with caplog.at_level(logging.INFO, logger="kiln.runtime"):
        assert rt.resolve("auto") == "cpu"
    log = caplog.text
    assert "auto: skipping fpga (device='fpga' needs a board" in log
    assert "auto: skipping cuda (device='cuda' needs a CUDA GPU" in log
    assert "auto: running on cpu" in log
    caplog.clear()
    monkeypatch.setenv("KILN_FPGA", "sim:pynq")
    x = np.random.default_rng(8).uniform(-4, 4, size=(30, 6))
    rt = kiln.load(tiny.path)
    with caplog.at_level(logging.INFO, logger="kiln.runtime"):
        got = rt.predict(x, device="auto", raw=True)
    assert "auto: running on fpga" in caplog.text
    assert "fpga: simulated PYNQ board (from $KILN_FPGA)" in caplog.text
    assert np.array_equal(got, runtime.predict(x, device="fpga-sim", raw=True))


def test_cli_predict_with_a_transport(tiny: Any, runtime: Any, tmp_path: Path,
                                      no_board: None) -> None:
    from kiln.cli import main

    x = np.random.default_rng(9).uniform(-4, 4, size=(12, 6))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    assert main(["predict", str(tiny.path), str(tmp_path / "x.npy"), "--device", "fpga",
                 "--transport", "sim", "--raw", "-o", str(out)]) == 0
    assert np.array_equal(np.load(out), runtime.predict(x, device="fpga-sim", raw=True))
    assert main(["predict", str(tiny.path), str(tmp_path / "x.npy"), "--device", "fpga"]) == 2
