"""RTL simulation: a Verilator-built bulk emulator for whole data sets, an Icarus second
opinion on a subset, cocotb protocol benches (valid/ready, reset, latency and II), and
per-layer probes of the Verilated design (kiln's trace)."""

from __future__ import annotations

from kiln.sim._cocotb import CocotbOutcome, CocotbRun, SimSpec, run_cocotb
from kiln.sim._emulator import (
    FULL_RATE,
    Emulator,
    EmulatorResult,
    EmulatorStream,
    StallPattern,
    StreamStep,
)
from kiln.sim._icarus import run_icarus
from kiln.sim._probe import Probe, ProbeResult, Stream
from kiln.sim._protocol import BenchTestResult, ProtocolReport, run_protocol_bench
from kiln.sim._uart_bench import (
    UART_BENCH_TESTS,
    SimulatedSerialBoard,
    UartBenchReport,
    run_uart_bench,
    simulated_serial_board,
)

__all__ = [
    "UART_BENCH_TESTS",
    "SimulatedSerialBoard",
    "UartBenchReport",
    "run_uart_bench",
    "simulated_serial_board",
    "BenchTestResult",
    "CocotbOutcome",
    "CocotbRun",
    "Emulator",
    "EmulatorResult",
    "EmulatorStream",
    "FULL_RATE",
    "Probe",
    "ProbeResult",
    "ProtocolReport",
    "SimSpec",
    "StallPattern",
    "Stream",
    "StreamStep",
    "run_cocotb",
    "run_icarus",
    "run_protocol_bench",
]
