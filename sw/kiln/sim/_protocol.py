"""The AXI4-Stream protocol bench (``sim/benches/kiln_top_bench.py``) on Verilator via cocotb:
random valid/ready, back-to-back samples (latency and II), reset in mid-stream."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln._checkout import sim_source_dir
from kiln.artifact import TopSources, as_input_codes
from kiln.errors import InputShapeError, KilnError
from kiln.sim._cocotb import CocotbOutcome, SimSpec, cocotb_version, run_cocotb
from kiln.tools import find_verilator

log = logging.getLogger(__name__)

BENCH_MODULE = "kiln_top_bench"
BENCH_DIR = Path("benches")
CONFIG_ENV = "KILN_BENCH_CONFIG"
DEFAULT_SAMPLES = 300
TESTS = ("random_handshakes", "full_rate", "reset_mid_stream")


@dataclass(frozen=True)
class BenchTestResult:
    """One protocol test.

    Attributes:
        name: ``random_handshakes``, ``full_rate`` or ``reset_mid_stream``.
        passed: cocotb's verdict (the bench asserts on everything below).
        samples: samples the test expected.
        mismatches: expected samples that came out wrong or not at all.
        missing, extra, stale, unknown: beats never seen, beats beyond the expected ones,
            beats after a reset with no input, beats with X/Z bits.
        violations: AXI4-Stream rule breaks on m_axis (a stalled beat dropped or changed).
        latency: distinct input-handshake to output-valid delays seen (full_rate only).
        ii: mean cycles between output beats at full rate (full_rate only).
        cycles: clock cycles the test ran.
        message: the first mismatch and the failure summary, if any.
    """

    name: str
    passed: bool
    samples: int
    mismatches: int
    missing: int
    extra: int
    stale: int
    unknown: int
    violations: int
    latency: tuple[int, ...]
    ii: float | None
    cycles: int
    message: str

    @classmethod
    def from_dict(cls, d: dict[str, Any], passed: bool, message: str) -> BenchTestResult:
        return cls(name=d["name"], passed=passed and bool(d["passed"]), samples=d["samples"],
                   mismatches=d["mismatches"], missing=d["missing"], extra=d["extra"],
                   stale=d["stale"], unknown=d["unknown"], violations=d["violations"],
                   latency=tuple(d["latency"]),
                   ii=d["ii"], cycles=d["cycles"], message=d["message"] or message)


@dataclass(frozen=True)
class ProtocolReport:
    """The protocol bench's verdict over all its tests.

    Attributes:
        passed: every test passed.
        samples: samples checked, over all tests.
        mismatches: samples wrong or missing, over all tests.
        latency: measured latency in cycles at full rate (-1 when not measured).
        ii: measured mean initiation interval at full rate (-1 when not measured).
        expected_latency, expected_ii: what rtl.json states.
        tests: per-test results.
        cycles: simulated clock cycles over all tests.
        seconds: wall time, build included; ``built`` says whether this call built.
    """

    passed: bool
    samples: int
    mismatches: int
    latency: int
    ii: float
    expected_latency: int
    expected_ii: int
    tests: tuple[BenchTestResult, ...]
    cycles: int
    seconds: float
    built: bool
    work_dir: Path

    def test(self, name: str) -> BenchTestResult:
        for t in self.tests:
            if t.name == name:
                return t
        raise KeyError(f"No test {name!r}; this report has {[t.name for t in self.tests]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "samples": self.samples, "mismatches": self.mismatches,
            "latency": self.latency, "ii": self.ii, "expected_latency": self.expected_latency,
            "expected_ii": self.expected_ii, "cycles": self.cycles,
            "seconds": round(self.seconds, 2),
            "tests": [{**t.__dict__, "latency": list(t.latency)} for t in self.tests],
        }


def run_protocol_bench(rtl_dir: str | Path, inputs: Any, expected: Any, work_dir: str | Path,
                       seed: int = 0, n_samples: int | None = DEFAULT_SAMPLES,
                       in_gap: float = 0.3, out_gap: float = 0.4,
                       timeout_s: float = 600.0) -> ProtocolReport:
    """Run the cocotb protocol bench on ``rtl_dir``'s ``kiln_top`` under Verilator.

    ``expected`` are the output codes the design must produce for ``inputs`` (from kiln.fixed,
    the HLS C simulation or the emulator). The simulator is built once per RTL content under
    ``work_dir/build-<hash>``; each call runs the three tests in ``work_dir/run``.

    Args:
        rtl_dir: the RTL directory (``files.f``, ``rtl.json``).
        inputs: input codes (n, in_elems).
        expected: output codes (n, out_elems).
        work_dir: build and run directory.
        seed: seeds the stall patterns (and cocotb).
        n_samples: use the first ``n_samples`` samples (None: all). The bench runs at ~0.2-1 ms a
            cycle (5k to 1k cycles/s); keep this in the hundreds.
        in_gap, out_gap: probability of a valid gap / a ready gap per cycle in the random tests.
        timeout_s: wall-clock limit for build and run.

    Raises:
        InputShapeError: inputs or expected codes of the wrong shape, dtype or range.
        ToolMissingError: Verilator or its build tools are missing.
        KilnError: the bench could not build or left no results.
    """
    design = TopSources.load(rtl_dir)
    g = design.contract
    codes = as_input_codes(inputs, g)
    want = np.asarray(expected)
    if want.dtype.kind not in "iub" or want.ndim == 0 or len(want) != len(codes) or \
            int(np.prod(want.shape[1:], dtype=np.int64)) != g.out_elems * g.out_beats:
        raise InputShapeError(f"expected has shape {want.shape} and dtype {want.dtype}; the "
                              f"bench needs ({len(codes)}, {g.out_elems * g.out_beats}) "
                              "integer codes")
    if n_samples is not None:
        codes, want = codes[:n_samples], want[:n_samples]
    if len(codes) < 2:
        raise InputShapeError(f"The protocol bench needs at least 2 samples, not {len(codes)}")
    tool = find_verilator()
    bench_dir = sim_source_dir() / BENCH_DIR
    bench = bench_dir / f"{BENCH_MODULE}.py"
    if not bench.is_file():
        raise KilnError(f"The protocol bench {bench} is missing; set $KILN_SIM_DIR to the "
                        "repository's sim/ folder")
    work = Path(work_dir).resolve()
    key = design.digest(tool.version, cocotb_version())
    run_dir = work / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    report_file = run_dir / "bench_report.json"
    report_file.unlink(missing_ok=True)
    np.save(run_dir / "inputs.npy", codes)
    np.save(run_dir / "expected.npy",
            want.reshape(len(want), g.out_elems * g.out_beats).astype(np.int64))
    config = run_dir / "bench_config.json"
    config.write_text(json.dumps({
        "contract": g.to_dict(), "inputs": str(run_dir / "inputs.npy"),
        "expected": str(run_dir / "expected.npy"), "report": str(report_file),
        "seed": seed, "in_gap": in_gap, "out_gap": out_gap,
    }, indent=2) + "\n")
    spec = SimSpec(sources=design.sources, toplevel=g.top, test_module=BENCH_MODULE,
                   bench_dir=bench_dir, build_dir=work / f"build-{key[:16]}", build_key=key,
                   test_dir=run_dir, extra_env=((CONFIG_ENV, str(config)),), seed=seed,
                   timeout_s=timeout_s)
    run = run_cocotb(spec, tool)
    details = json.loads(report_file.read_text()) if report_file.is_file() else {}
    return _report(run.outcomes, details, g.latency, g.ii, len(codes), run.seconds, run.built,
                   work)


def _report(outcomes: tuple[CocotbOutcome, ...], details: dict[str, Any], latency: int,
            ii: int, n: int, seconds: float, built: bool, work: Path) -> ProtocolReport:
    by_name = {o.name.removeprefix("test_"): o for o in outcomes}
    tests = []
    for name in TESTS:
        outcome = by_name.get(name)
        if name in details:
            tests.append(BenchTestResult.from_dict(details[name], outcome is not None and
                                                   outcome.passed,
                                                   outcome.message if outcome else "not run"))
        else:  # the test crashed before writing its details
            message = outcome.message if outcome else "the test did not run"
            tests.append(BenchTestResult(name, False, n, n, n, 0, 0, 0, 0, (), None, 0, message))
    full = tests[1]
    measured_latency = max(full.latency) if full.latency else -1
    report = ProtocolReport(
        passed=all(t.passed for t in tests), samples=sum(t.samples for t in tests),
        mismatches=sum(t.mismatches for t in tests),
        latency=measured_latency, ii=full.ii if full.ii is not None else -1.0,
        expected_latency=latency, expected_ii=ii, tests=tuple(tests),
        cycles=sum(t.cycles for t in tests), seconds=seconds, built=built, work_dir=work,
    )
    for t in tests:
        level = logging.INFO if t.passed else logging.WARNING
        log.log(level, "protocol %s: %s (%d samples, %d mismatches) %s", t.name,
                "PASS" if t.passed else "FAIL", t.samples, t.mismatches, t.message)
    return report
