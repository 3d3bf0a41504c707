"""The UART bridge's cocotb bench (``sim/benches/uart_bridge_bench.py``) on Verilator: the
board top ``kiln_uart_top`` with a design's ``kiln_top``, driven over its serial lines by the
bench itself (:func:`run_uart_bench`) or, through a TCP socket standing in for the serial
port, by host code such as the runtime's serial driver (:func:`simulated_serial_board`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln._checkout import hw_dir, sim_source_dir
from kiln.artifact import UART_SOURCES, UART_TOP, TopSources, WireFormat
from kiln.errors import InputShapeError, KilnError
from kiln.sim._cocotb import CocotbRun, SimSpec, run_cocotb
from kiln.tools import Verilator, find_verilator

__all__ = ["UART_BENCH_TESTS", "SimulatedSerialBoard", "UartBenchReport", "run_uart_bench",
           "simulated_serial_board"]

BENCH_MODULE = "uart_bridge_bench"
CONFIG_ENV = "KILN_UART_BENCH_CONFIG"
UART_BENCH_TESTS = ("windowed_stream", "back_to_back", "partial_sample_timeout",
                    "frame_error_led")


@dataclass(frozen=True)
class UartBenchReport:
    """The bench's verdict.

    Attributes:
        passed: every test passed.
        tests: per test, what the bench recorded (samples, mismatches, frame errors, ...)
            and cocotb's verdict under ``"cocotb_passed"``.
        seconds: wall time, Verilator build included (``built``).
        work_dir: where it ran.
    """

    passed: bool
    tests: dict[str, dict[str, Any]]
    seconds: float
    built: bool
    work_dir: Path


def run_uart_bench(artifact: str | Path, inputs: Any, expected: Any, work_dir: str | Path, *,
                   clks_per_bit: int = 8, seed: int = 0,
                   timeout_s: float = 600.0) -> UartBenchReport:
    """Build ``kiln_uart_top`` around ``artifact``'s ``kiln_top`` and run the UART bench.

    Args:
        artifact: the artifact (or its ``rtl/`` folder).
        inputs: input codes, shape (n, in_codes): a sample's beats (an io_stream frame's
            pixels) in order.
        expected: the output codes the design must produce, shape (n, out_codes).
        work_dir: build and run directory (the Verilator build is reused when unchanged).
        clks_per_bit: UART bit time in clock cycles (small keeps the simulation short).
        seed: cocotb's seed.
        timeout_s: wall-clock limit.

    Raises:
        InputShapeError: inputs or expected of the wrong shape.
        ToolMissingError: Verilator is missing.
        KilnError: the bench could not build or left no results.
    """
    design = TopSources.load(artifact)
    codes, want = _check_codes(inputs, expected, design)
    bench = _Bench.make(design, Path(work_dir), clks_per_bit, codes, want, seed, timeout_s)
    return bench.report(run_cocotb(bench.spec, bench.tool), UART_BENCH_TESTS)


@dataclass
class SimulatedSerialBoard:
    """The board top in Verilator with its serial port on a TCP socket, while
    :func:`simulated_serial_board` runs it.

    Attributes:
        url: pyserial's URL of the port (``socket://127.0.0.1:PORT``); open it with
            ``serial.serial_for_url`` or the runtime's serial transport, and close it when
            done: the bench ends when the host disconnects.
        report: the bench's verdict (test ``serial_link``), once the ``with`` block is left.
    """

    url: str
    report: UartBenchReport | None = None


@contextmanager
def simulated_serial_board(artifact: str | Path, work_dir: str | Path, *,
                           clks_per_bit: int = 8, idle_s: float = 30.0,
                           timeout_s: float = 600.0) -> Iterator[SimulatedSerialBoard]:
    """Run ``kiln_uart_top`` around ``artifact``'s ``kiln_top`` in Verilator (cocotb bench
    ``serial_link``) as a board on a serial port, for host code to talk to: the bytes the
    host writes are sent on ``uart_rx``, the bytes on ``uart_tx`` come back.

    Args:
        artifact: the artifact (or its ``rtl/`` folder).
        work_dir: build and run directory (the Verilator build is shared with
            :func:`run_uart_bench`'s).
        clks_per_bit: UART bit time in clock cycles.
        idle_s: the bench stops when the host neither sends nor is owed bytes this long.
        timeout_s: wall-clock limit for building and running.

    Raises:
        ToolMissingError: Verilator is missing.
        KilnError: the bench did not start, or left no results.
    """
    design = TopSources.load(artifact)
    none_in = np.zeros((0, design.contract.in_codes), dtype=np.int64)
    none_out = np.zeros((0, design.contract.out_codes), dtype=np.int64)
    bench = _Bench.make(design, Path(work_dir), clks_per_bit, none_in, none_out, 0, timeout_s,
                        serial={"idle_s": idle_s})
    port_file = Path(json.loads(bench.config.read_text())["port_file"])
    port_file.unlink(missing_ok=True)
    with ThreadPoolExecutor(1, thread_name_prefix="kiln-uart-bench") as pool:
        run = pool.submit(run_cocotb, bench.spec, bench.tool)
        deadline = time.monotonic() + timeout_s
        while not port_file.is_file():
            if run.done():
                run.result()    # raises the bench's error
                raise KilnError(f"The UART serial bench ended before it opened its port; "
                                f"see {bench.spec.test_dir / 'cocotb.log'}")
            if time.monotonic() > deadline:
                raise KilnError(f"The UART serial bench did not open its port within "
                                f"{timeout_s:.0f} s; see {bench.spec.test_dir / 'cocotb.log'}")
            wait([run], timeout=0.2)
        board = SimulatedSerialBoard(f"socket://127.0.0.1:{int(port_file.read_text())}")
        yield board
        board.report = bench.report(run.result(), ("serial_link",))


@dataclass(frozen=True)
class _Bench:
    """One run of the bench: its cocotb spec, Verilator and config file."""

    spec: SimSpec
    tool: Verilator
    config: Path

    @classmethod
    def make(cls, design: TopSources, work_dir: Path, clks_per_bit: int, codes: NDArray[Any],
             want: NDArray[Any], seed: int, timeout_s: float,
             serial: dict[str, Any] | None = None) -> _Bench:
        if clks_per_bit < 4:
            raise KilnError(f"clks_per_bit must be at least 4 (the receiver samples mid-bit), "
                            f"not {clks_per_bit}")
        fmt = WireFormat.of(design.contract)
        timeout_cycles = 30 * clks_per_bit * max(fmt.in_bytes, 2)
        tool = find_verilator()
        sources = tuple([hw_dir() / rel for rel in UART_SOURCES]
                        + list(design.sources))
        params = {"IN_BITS": design.contract.in_bits, "OUT_BITS": design.contract.out_bits,
                  "IN_BEATS": design.contract.in_beats, "CLKS_PER_BIT": clks_per_bit,
                  "TIMEOUT_CYCLES": timeout_cycles, "LEDS": 4}
        build_args = ("-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast",
                      *(f"-G{k}={v}" for k, v in params.items()))
        key = _key(sources, build_args, tool.version)
        work = work_dir.resolve()
        run_dir = work / ("serial" if serial else "run")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "uart_bench_report.json").unlink(missing_ok=True)
        np.save(run_dir / "inputs.npy", codes)
        np.save(run_dir / "expected.npy", want)
        config = run_dir / "uart_bench_config.json"
        extra = {"mode": "serial", **serial, "port_file": str(run_dir / "port")} \
            if serial else {"mode": "bench"}
        config.write_text(json.dumps({
            "contract": design.contract.to_dict(), "inputs": str(run_dir / "inputs.npy"),
            "expected": str(run_dir / "expected.npy"),
            "report": str(run_dir / "uart_bench_report.json"), "clks_per_bit": clks_per_bit,
            "timeout_cycles": timeout_cycles, **extra}, indent=2) + "\n")
        spec = SimSpec(sources=sources, toplevel=UART_TOP, test_module=BENCH_MODULE,
                       bench_dir=sim_source_dir() / "benches", build_dir=work / f"build-{key[:16]}",
                       build_key=key, test_dir=run_dir, extra_env=((CONFIG_ENV, str(config)),),
                       seed=seed, build_args=build_args, timeout_s=timeout_s)
        return cls(spec, tool, config)

    def report(self, run: CocotbRun, names: tuple[str, ...]) -> UartBenchReport:
        """The verdict on the tests ``names`` from cocotb's outcomes and the bench's report."""
        report_file = self.spec.test_dir / "uart_bench_report.json"
        details = json.loads(report_file.read_text()) if report_file.is_file() else {}
        verdicts = {o.name.rsplit(".", 1)[-1]: o for o in run.outcomes}
        tests: dict[str, dict[str, Any]] = {}
        for name in names:
            outcome = verdicts.get(name)
            entry = dict(details.get(name, {"name": name, "passed": False}))
            entry["cocotb_passed"] = bool(outcome and outcome.passed)
            entry["message"] = outcome.message if outcome else "the test did not run"
            tests[name] = entry
        passed = all(t["cocotb_passed"] and t.get("passed") for t in tests.values())
        return UartBenchReport(passed, tests, run.seconds, run.built,
                               self.spec.build_dir.parent)


def _check_codes(inputs: Any, expected: Any, design: TopSources
                 ) -> tuple[NDArray[Any], NDArray[Any]]:
    codes = np.asarray(inputs)
    want = np.asarray(expected)
    c = design.contract
    if codes.ndim != 2 or codes.shape[1] != c.in_codes or codes.dtype.kind not in "iu":
        raise InputShapeError(f"inputs have shape {codes.shape} and dtype {codes.dtype}; the "
                              f"bench needs (n, {c.in_codes}) integer codes")
    if want.shape != (len(codes), c.out_codes) or want.dtype.kind not in "iu":
        raise InputShapeError(f"expected has shape {want.shape} and dtype {want.dtype}; the "
                              f"bench needs ({len(codes)}, {c.out_codes}) integer codes")
    if len(codes) < 4:
        raise InputShapeError(f"The UART bench needs at least 4 samples, not {len(codes)}")
    return codes.astype(np.int64), want.astype(np.int64)


def _key(sources: tuple[Path, ...], build_args: tuple[str, ...], version: str) -> str:
    h = hashlib.sha256(json.dumps([list(build_args), version]).encode())
    for path in sources:
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()
