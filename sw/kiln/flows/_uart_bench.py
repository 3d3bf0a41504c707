"""The UART bridge's cocotb bench (``sim/benches/uart_bridge_bench.py``) on Verilator: the
board top ``kiln_uart_top`` with a design's ``kiln_top``, driven over its serial lines."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln.errors import InputShapeError, KilnError
from kiln.flows._boards import hw_dir
from kiln.flows._design import KilnTop
from kiln.flows._open import UART_SOURCES, UART_TOP
from kiln.flows._uart_protocol import UartFormat

__all__ = ["UART_BENCH_TESTS", "UartBenchReport", "run_uart_bench"]

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


def _bench_dir() -> Path:
    override = os.environ.get("KILN_SIM_DIR")
    return (Path(override) if override else hw_dir().parent / "sim") / "benches"


def run_uart_bench(artifact: str | Path, inputs: Any, expected: Any, work_dir: str | Path, *,
                   clks_per_bit: int = 8, seed: int = 0,
                   timeout_s: float = 600.0) -> UartBenchReport:
    """Build ``kiln_uart_top`` around ``artifact``'s ``kiln_top`` and run the UART bench.

    Args:
        artifact: the artifact (or its ``rtl/`` folder).
        inputs: input codes, shape (n, in_elems).
        expected: the output codes the design must produce, shape (n, out_elems).
        work_dir: build and run directory (the Verilator build is reused when unchanged).
        clks_per_bit: UART bit time in clock cycles (small keeps the simulation short).
        seed: cocotb's seed.
        timeout_s: wall-clock limit.

    Raises:
        InputShapeError: inputs or expected of the wrong shape.
        ToolMissingError: Verilator is missing.
        KilnError: the bench could not build or left no results.
    """
    from kiln.sim import SimSpec, find_verilator, run_cocotb

    design = KilnTop.load(artifact)
    fmt = UartFormat.from_meta(design.meta())
    codes, want = _check_codes(inputs, expected, design)
    if clks_per_bit < 4:
        raise KilnError(f"clks_per_bit must be at least 4 (the receiver samples mid-bit), "
                        f"not {clks_per_bit}")
    timeout_cycles = 30 * clks_per_bit * max(fmt.in_bytes, 2)
    tool = find_verilator()
    sources = tuple([hw_dir() / rel for rel in UART_SOURCES]
                    + [design.rtl_dir / name for name, _ in design.sources])
    params = {"IN_BITS": design.in_bits, "OUT_BITS": design.out_bits,
              "CLKS_PER_BIT": clks_per_bit, "TIMEOUT_CYCLES": timeout_cycles, "LEDS": 4}
    build_args = ("-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast",
                  *(f"-G{k}={v}" for k, v in params.items()))
    key = _key(sources, build_args, tool.version)
    work = Path(work_dir).resolve()
    run_dir = work / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    report_file = run_dir / "uart_bench_report.json"
    report_file.unlink(missing_ok=True)
    np.save(run_dir / "inputs.npy", codes)
    np.save(run_dir / "expected.npy", want)
    config = run_dir / "uart_bench_config.json"
    config.write_text(json.dumps({
        "meta": design.meta(), "inputs": str(run_dir / "inputs.npy"),
        "expected": str(run_dir / "expected.npy"), "report": str(report_file),
        "clks_per_bit": clks_per_bit, "timeout_cycles": timeout_cycles}, indent=2) + "\n")
    spec = SimSpec(sources=sources, toplevel=UART_TOP, test_module=BENCH_MODULE,
                   bench_dir=_bench_dir(), build_dir=work / f"build-{key[:16]}", build_key=key,
                   test_dir=run_dir, extra_env=((CONFIG_ENV, str(config)),), seed=seed,
                   build_args=build_args, timeout_s=timeout_s)
    run = run_cocotb(spec, tool)
    details = json.loads(report_file.read_text()) if report_file.is_file() else {}
    tests: dict[str, dict[str, Any]] = {}
    verdicts = {o.name.rsplit(".", 1)[-1]: o for o in run.outcomes}
    for name in UART_BENCH_TESTS:
        outcome = verdicts.get(name)
        entry = dict(details.get(name, {"name": name, "passed": False}))
        entry["cocotb_passed"] = bool(outcome and outcome.passed)
        entry["message"] = outcome.message if outcome else "the test did not run"
        tests[name] = entry
    passed = all(t["cocotb_passed"] and t.get("passed") for t in tests.values())
    return UartBenchReport(passed, tests, run.seconds, run.built, work)


def _check_codes(inputs: Any, expected: Any, design: KilnTop) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(inputs)
    want = np.asarray(expected)
    if codes.ndim != 2 or codes.shape[1] != design.in_elems or codes.dtype.kind not in "iu":
        raise InputShapeError(f"inputs have shape {codes.shape} and dtype {codes.dtype}; the "
                              f"bench needs (n, {design.in_elems}) integer codes")
    if want.shape != (len(codes), design.out_elems) or want.dtype.kind not in "iu":
        raise InputShapeError(f"expected has shape {want.shape} and dtype {want.dtype}; the "
                              f"bench needs ({len(codes)}, {design.out_elems}) integer codes")
    if len(codes) < 4:
        raise InputShapeError(f"The UART bench needs at least 4 samples, not {len(codes)}")
    return codes.astype(np.int64), want.astype(np.int64)


def _key(sources: tuple[Path, ...], build_args: tuple[str, ...], version: str) -> str:
    h = hashlib.sha256(json.dumps([list(build_args), version]).encode())
    for path in sources:
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()
