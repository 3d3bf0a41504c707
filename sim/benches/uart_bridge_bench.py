"""cocotb bench for the UART board top (``hw/uart/kiln_uart_top.v``) around a ``kiln_top``.

Run by kiln.sim.run_uart_bench through kiln.sim's cocotb runner; $KILN_UART_BENCH_CONFIG
names a JSON file with the design's contract (rtl.json), the input and expected output codes
(.npy), the UART bit time in clock cycles, the bridge's partial-sample timeout and where to
write the per-test report. The wire format is kiln.artifact.WireFormat, the same code the
runtime's serial transport uses. A sample is a frame of ``in_beats`` input beats (io_stream:
one per pixel) and ``out_beats`` output beats; the bridge holds one frame (two single-beat
samples) for the design, so a host keeps at most that many samples in flight.

The driver bit-bangs ``uart_rx`` with Timer waits of one bit time; the monitor decodes
``uart_tx`` (falling edge of the start bit, then each bit sampled at its middle).

With ``"mode": "serial"`` in the config only ``serial_link`` runs: the board's USB-serial
chip becomes a TCP socket (pyserial's ``socket://`` URL), so a host program, the runtime's
serial driver, talks to the simulated board as it would to a real one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.handle import SimHandleBase
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from kiln.artifact import MAX_IN_FLIGHT, TopContract, WireFormat

CONFIG_ENV = "KILN_UART_BENCH_CONFIG"
CLOCK_NS = 10
LED_ERROR = 1
POR_CYCLES = 16   # kiln_uart_top's power-on reset


def _serial_mode() -> bool:
    """Whether this run is ``serial_link`` only (read once, when cocotb imports the bench)."""
    path = os.environ.get(CONFIG_ENV)
    return bool(path) and json.loads(Path(path).read_text()).get("mode") == "serial"


SERIAL = _serial_mode()


@dataclass(frozen=True)
class BenchConfig:
    """What the Python side asked for."""

    contract: TopContract
    inputs: Path
    expected: Path
    report: Path
    clks_per_bit: int
    timeout_cycles: int

    @classmethod
    def from_env(cls) -> BenchConfig:
        data = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
        return cls(TopContract.from_dict(data["contract"]), Path(data["inputs"]),
                   Path(data["expected"]), Path(data["report"]), int(data["clks_per_bit"]),
                   int(data["timeout_cycles"]))

    @property
    def bit_ns(self) -> int:
        return self.clks_per_bit * CLOCK_NS


class UartDriver:
    """Sends bytes on ``uart_rx``: start bit, 8 data bits LSB first, stop bit."""

    def __init__(self, line: SimHandleBase, bit_ns: int) -> None:
        self.line = line
        self.bit_ns = bit_ns
        line.value = 1

    async def send(self, data: bytes, *, bad_stop: bool = False) -> None:
        for byte in data:
            bits = [0, *((byte >> i) & 1 for i in range(8)), 0 if bad_stop else 1]
            for bit in bits:
                self.line.value = bit
                await Timer(self.bit_ns, unit="ns")
            self.line.value = 1
            if bad_stop:
                await Timer(2 * self.bit_ns, unit="ns")


@dataclass
class UartMonitor:
    """Collects the bytes the board sends on ``uart_tx``."""

    line: SimHandleBase
    bit_ns: int
    received: bytearray = field(default_factory=bytearray)
    frame_errors: int = 0
    glitches: int = 0

    async def run(self) -> None:
        while True:
            await FallingEdge(self.line)
            await Timer(self.bit_ns // 2, unit="ns")
            if int(self.line.value):      # not a start bit: a glitch
                self.glitches += 1
                continue
            await Timer(self.bit_ns, unit="ns")
            byte = 0
            for i in range(8):
                byte |= int(self.line.value) << i
                await Timer(self.bit_ns, unit="ns")
            if not int(self.line.value):
                self.frame_errors += 1
            self.received.append(byte)


class Model:
    """The expected output codes (computed outside: kiln.fixed, or a numpy reference), and
    the bytes of whole samples (frames) on the wire."""

    def __init__(self, cfg: BenchConfig) -> None:
        self.fmt = WireFormat.of(cfg.contract)
        self.inputs = np.load(cfg.inputs)
        self.expected = np.load(cfg.expected)
        c = cfg.contract
        self.in_sample_bytes = self.fmt.in_bytes * c.in_beats
        self.out_sample_bytes = self.fmt.out_bytes * c.out_beats
        # the bridge's FIFO holds in_beats + MAX_IN_FLIGHT - 1 beats (uart_window)
        self.window = (c.in_beats + MAX_IN_FLIGHT - 1) // c.in_beats

    def encode(self, codes: np.ndarray) -> bytes:
        """The host's bytes for samples ``codes`` (n, in_codes)."""
        return self.fmt.encode_inputs(codes.reshape(-1, self.fmt.contract.in_elems))

    def decode(self, data: bytes) -> np.ndarray:
        """Output codes (n, out_codes) of the whole samples in ``data``."""
        c = self.fmt.contract
        whole = len(data) // self.out_sample_bytes
        beats = self.fmt.decode_outputs(data[: whole * self.out_sample_bytes],
                                        whole * c.out_beats)
        return beats.reshape(whole, c.out_codes)


class Checker:
    """Exact equality of decoded outputs and expected codes."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def compare(self, name: str, received: bytes, want: np.ndarray,
                frame_errors: int) -> dict[str, Any]:
        got = self.model.decode(bytes(received))
        n = min(len(got), len(want))
        wrong = np.flatnonzero((got[:n] != want[:n]).any(axis=1))
        first = ""
        if len(wrong):
            i = int(wrong[0])
            first = f"sample {i}: got {got[i].tolist()}, want {want[i].tolist()}"
        result = {"name": name, "samples": int(len(want)), "received": int(len(got)),
                  "mismatches": int(len(wrong)) + max(0, len(want) - len(got)),
                  "extra_bytes": max(0, len(received) - len(want) * self.model.out_sample_bytes),
                  "frame_errors": frame_errors, "first_mismatch": first}
        result["passed"] = (result["mismatches"] == 0 and result["extra_bytes"] == 0
                            and frame_errors == 0)
        return result


class Testbench:
    """Clock, reset, driver, monitor, model and checker around the DUT."""

    def __init__(self, dut: SimHandleBase) -> None:
        self.dut = dut
        self.cfg = BenchConfig.from_env()
        self.model = Model(self.cfg)
        self.checker = Checker(self.model)
        self.driver = UartDriver(dut.uart_rx, self.cfg.bit_ns)
        self.monitor = UartMonitor(dut.uart_tx, self.cfg.bit_ns)
        fmt = self.model.fmt
        for param, bits in (("IN_BITS", fmt.contract.in_bits),
                            ("OUT_BITS", fmt.contract.out_bits),
                            ("IN_BEATS", fmt.contract.in_beats)):
            handle = getattr(dut, param, None)
            if handle is not None and int(handle.value) != bits:
                raise AssertionError(f"kiln_uart_top has {param} = {int(handle.value)}; "
                                     f"rtl.json implies {bits}")

    async def start(self) -> None:
        self.dut.rst_btn.value = 0
        Clock(self.dut.clk, CLOCK_NS, unit="ns").start(start_high=False)
        cocotb.start_soon(self.monitor.run())
        await self.reset()

    async def reset(self) -> None:
        """Press the reset button; return once the power-on reset (16 cycles) and the
        button's synchroniser have let the design out of reset."""
        self.dut.rst_btn.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst_btn.value = 0
        await ClockCycles(self.dut.clk, POR_CYCLES + 8)

    def results(self) -> int:
        return len(self.monitor.received) // self.model.out_sample_bytes

    async def wait_results(self, n: int, limit_bits: int) -> None:
        for _ in range(limit_bits):
            if self.results() >= n:
                return
            await Timer(self.cfg.bit_ns, unit="ns")

    async def send_windowed(self, codes: np.ndarray) -> None:
        """Send samples keeping at most the bridge's window without all their results, as a
        host following the protocol does."""
        m = self.model
        base = self.results()
        per_sample = 10 * (m.in_sample_bytes + m.out_sample_bytes) + 64
        for k, row in enumerate(codes):
            await self.wait_results(base + k - m.window + 1, per_sample * (m.window + 1))
            await self.driver.send(m.encode(row[None, :]))

    def led(self, index: int) -> int:
        return (int(self.dut.led.value) >> index) & 1

    def record(self, result: dict[str, Any]) -> None:
        path = self.cfg.report
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[result["name"]] = result
        path.write_text(json.dumps(data, indent=2) + "\n")


async def _finish(tb: Testbench, name: str, start: int, want: np.ndarray) -> None:
    size = tb.model.out_sample_bytes
    await tb.wait_results(start + len(want), 10 * size * (len(want) + 4) + 200)
    await Timer(tb.cfg.bit_ns * 10 * size * 2, unit="ns")   # nothing extra comes
    received = bytes(tb.monitor.received[start * size:])
    result = tb.checker.compare(name, received, want, tb.monitor.frame_errors)
    result["error_led"] = tb.led(LED_ERROR) if len(tb.dut.led) > LED_ERROR else 0
    tb.record(result)
    assert result["passed"], f"{name}: {result}"


@cocotb.test(skip=SERIAL)
async def windowed_stream(dut: SimHandleBase) -> None:
    """Every sample, at most the window (two samples, one frame) in flight: every result
    exact, in order."""
    tb = Testbench(dut)
    await tb.start()
    await tb.send_windowed(tb.model.inputs)
    await _finish(tb, "windowed_stream", 0, tb.model.expected)


@cocotb.test(skip=SERIAL)
async def back_to_back(dut: SimHandleBase) -> None:
    """All samples with no gap on the wire; safe when a sample's results are no longer than
    the sample and the design takes a beat faster than the wire brings one."""
    tb = Testbench(dut)
    await tb.start()
    m = tb.model
    n = len(m.inputs) if m.out_sample_bytes <= m.in_sample_bytes else m.window
    await tb.driver.send(m.encode(m.inputs[:n]))
    await _finish(tb, "back_to_back", 0, tb.model.expected[:n])


@cocotb.test(skip=SERIAL)
async def partial_sample_timeout(dut: SimHandleBase) -> None:
    """A partial sample is dropped after the timeout; the next samples line up again."""
    tb = Testbench(dut)
    await tb.start()
    fmt = tb.model.fmt
    if fmt.in_bytes > 1:
        await tb.driver.send(bytes([0xA5]))
        await ClockCycles(dut.clk, tb.cfg.timeout_cycles + 4 * tb.cfg.clks_per_bit)
    n = min(4, len(tb.model.inputs))
    await tb.send_windowed(tb.model.inputs[:n])
    await _finish(tb, "partial_sample_timeout", 0, tb.model.expected[:n])
    assert tb.led(LED_ERROR) == 0 or len(dut.led) <= LED_ERROR, "a timeout is not an error"


@cocotb.test(skip=SERIAL)
async def frame_error_led(dut: SimHandleBase) -> None:
    """A byte with a low stop bit lights the error LED until reset; samples still work."""
    tb = Testbench(dut)
    await tb.start()
    if len(dut.led) > LED_ERROR:
        await tb.driver.send(bytes([0x3C]), bad_stop=True)
        await ClockCycles(dut.clk, 4 * tb.cfg.clks_per_bit)
        assert tb.led(LED_ERROR) == 1, "the error LED is not lit after a framing error"
        await tb.reset()
        assert tb.led(LED_ERROR) == 0, "reset does not clear the error LED"
    n = min(2, len(tb.model.inputs))
    await tb.send_windowed(tb.model.inputs[:n])
    await _finish(tb, "frame_error_led", 0, tb.model.expected[:n])


class SocketPort:
    """The board's serial port as a TCP server on 127.0.0.1: its port number goes to
    ``port_file`` for the host; one host connects (pyserial ``socket://127.0.0.1:PORT``)."""

    def __init__(self, port_file: Path) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.setblocking(False)
        partial = port_file.with_suffix(".partial")
        partial.write_text(str(self.server.getsockname()[1]))
        partial.replace(port_file)    # the host never reads half a number
        self.conn: socket.socket | None = None

    def poll(self) -> bytes | None:
        """Bytes the host sent since the last poll; None once it has disconnected."""
        if self.conn is None:
            try:
                self.conn, _ = self.server.accept()
            except BlockingIOError:
                return b""
            self.conn.setblocking(False)
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return b""
        return data or None

    def send(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.setblocking(True)
        self.conn.sendall(data)
        self.conn.setblocking(False)

    def close(self) -> None:
        for sock in (self.conn, self.server):
            if sock is not None:
                sock.close()


@cocotb.test(skip=not SERIAL)
async def serial_link(dut: SimHandleBase) -> None:
    """A host on the socket drives the board: its bytes go out on ``uart_rx`` as they come,
    the bytes on ``uart_tx`` go back to it; until it disconnects (or sends nothing and is
    owed nothing for ``idle_s``). Checks the link: no framing errors, no error LED."""
    tb = Testbench(dut)
    await tb.start()
    data = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
    port = SocketPort(Path(data["port_file"]))
    idle_s = float(data["idle_s"])
    host_bytes = returned = 0
    last = time.monotonic()
    try:
        while True:
            chunk = port.poll()
            if chunk is None:
                break
            if chunk:
                host_bytes += len(chunk)
                await tb.driver.send(chunk)
                last = time.monotonic()
            if len(tb.monitor.received) > returned:
                port.send(bytes(tb.monitor.received[returned:]))
                returned = len(tb.monitor.received)
                last = time.monotonic()
            if time.monotonic() - last > idle_s:
                break
            await Timer(tb.cfg.bit_ns, unit="ns")
    finally:
        port.close()
    m = tb.model
    result = {"name": "serial_link", "host_bytes": host_bytes, "board_bytes": returned,
              "samples": host_bytes // m.in_sample_bytes,
              "received": returned // m.out_sample_bytes,
              "frame_errors": tb.monitor.frame_errors,
              "error_led": tb.led(LED_ERROR) if len(dut.led) > LED_ERROR else 0}
    result["passed"] = (result["frame_errors"] == 0 and result["error_led"] == 0
                        and host_bytes > 0 and host_bytes % m.in_sample_bytes == 0
                        and returned == result["samples"] * m.out_sample_bytes)
    tb.record(result)
    assert result["passed"], f"serial_link: {result}"
