"""cocotb protocol bench for ``kiln_top`` (AXI4-Stream in, AXI4-Stream out).

Run by kiln.sim.run_protocol_bench through cocotb's runner; $KILN_BENCH_CONFIG names a JSON
file with the stream geometry (rtl.json), the input and expected-output codes (.npy), the
seed, the stall probabilities and where to write the per-test report.

Each cycle has two phases. Drivers change their signals just after the rising edge; at the
falling edge everything is settled, so drivers and monitors sample the handshakes there that
take effect at the next rising edge. Cycle numbers count rising edges since the clock started.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import Task
from cocotb.triggers import FallingEdge, RisingEdge

from kiln.artifact import TopContract, pack_beats, unpack_beats

Dut = Any  # cocotb's handle to kiln_top; its ports are attributes found at run time
CONFIG_ENV = "KILN_BENCH_CONFIG"
RESET_CYCLES = 4
DRAIN_CYCLES = 16


@dataclass(frozen=True)
class BenchConfig:
    """What the Python side asked for (read from $KILN_BENCH_CONFIG)."""

    contract: TopContract
    inputs: Path
    expected: Path
    report: Path
    seed: int
    in_gap: float
    out_gap: float

    @classmethod
    def from_env(cls) -> BenchConfig:
        data = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
        return cls(contract=TopContract.from_dict(data["contract"]), inputs=Path(data["inputs"]),
                   expected=Path(data["expected"]), report=Path(data["report"]),
                   seed=int(data["seed"]), in_gap=float(data["in_gap"]),
                   out_gap=float(data["out_gap"]))


def check_ports(dut: Dut, g: TopContract) -> TopContract:
    """``g`` (rtl.json), after checking it against the DUT's port widths."""
    in_bits, out_bits = len(dut.s_axis_tdata), len(dut.m_axis_tdata)
    if (in_bits, out_bits) != (g.in_bits, g.out_bits):
        raise AssertionError(
            f"kiln_top has {in_bits}-bit s_axis_tdata and {out_bits}-bit m_axis_tdata; "
            f"rtl.json implies {g.in_bits} and {g.out_bits}")
    return g


class Model:
    """Expected behaviour: the output codes the caller computed (kiln.fixed or HLS C-sim),
    in input order. Packs inputs into beats and unpacks output beats into codes. A sample is
    a frame of ``in_beats`` input and ``out_beats`` output beats; ``expected`` is per beat."""

    def __init__(self, config: BenchConfig, g: TopContract) -> None:
        self.g = g
        self.inputs = np.load(config.inputs).astype(np.int64).reshape(-1, g.in_elems)
        self.expected = np.load(config.expected).astype(np.int64).reshape(-1, g.out_elems)
        if len(self.inputs) * g.out_beats != len(self.expected) * g.in_beats:
            raise AssertionError(f"{len(self.inputs)} input beats but {len(self.expected)} "
                                 "expected output beats")
        self.beats = pack_beats(self.inputs, g.in_width)

    def __len__(self) -> int:
        """Samples (frames)."""
        return len(self.beats) // self.g.in_beats

    @property
    def out_beats(self) -> int:
        return len(self.expected)

    def unpack(self, beat: int) -> list[int]:
        return [int(c) for c in unpack_beats([beat], self.g.out_elems, self.g.out_width,
                                             self.g.out_signed)[0]]


class CycleCounter:
    """Counts rising edges; every other component reads ``now``."""

    def __init__(self, clk: Dut) -> None:
        self.clk = clk
        self.now = 0

    async def run(self) -> None:
        while True:
            await RisingEdge(self.clk)
            self.now += 1


def gaps(rng: random.Random, p: float) -> Callable[[], bool]:
    """A per-cycle pause pattern: True means pause this cycle."""
    if p <= 0:
        return lambda: False
    return lambda: rng.random() < p


class Driver:
    """Drives ``s_axis``: offers beats with random gaps; an offered beat stays on the bus,
    unchanged, until the DUT accepts it."""

    def __init__(self, dut: Dut, pause: Callable[[], bool], frame: int) -> None:
        self.dut = dut
        self.pause = pause
        self.frame = frame  # beats per frame: tlast on each frame's last beat
        self.sent = 0

    def idle(self) -> None:
        self.dut.s_axis_tvalid.value = 0
        self.dut.s_axis_tlast.value = 0

    async def send(self, beats: list[int]) -> None:
        """Return once every beat was accepted, at a falling edge."""
        self.sent = 0
        offering = False
        while self.sent < len(beats):
            if not offering and not self.pause():
                offering = True
                self.dut.s_axis_tdata.value = beats[self.sent]
                last = (self.sent + 1) % self.frame == 0 if self.frame > 1 else \
                    self.sent == len(beats) - 1
                self.dut.s_axis_tlast.value = int(last)
            self.dut.s_axis_tvalid.value = int(offering)
            await FallingEdge(self.dut.clk)
            if offering and self.dut.s_axis_tready.value:
                self.sent += 1
                offering = False
            await RisingEdge(self.dut.clk)
        self.idle()


class ReadyDriver:
    """Drives ``m_axis_tready``: high, or low on cycles its pause pattern picks."""

    def __init__(self, dut: Dut, pause: Callable[[], bool]) -> None:
        self.dut = dut
        self.pause = pause
        self.enabled = True

    async def run(self) -> None:
        while True:
            self.dut.m_axis_tready.value = int(self.enabled and not self.pause())
            await RisingEdge(self.dut.clk)


@dataclass
class Beat:
    value: int | None  # None when tdata had X/Z bits
    cycle: int  # cycle of the handshake
    first_valid: int  # first cycle this beat was valid (== cycle without backpressure)


class Monitor:
    """Records every handshake on one side (``s_axis`` or ``m_axis``) while reset is high,
    and checks the AXI4-Stream rule that a stalled beat (valid, not ready) stays valid with
    unchanged data until it is taken."""

    def __init__(self, dut: Dut, prefix: str, counter: CycleCounter) -> None:
        self.clk = dut.clk
        self.rst_n = dut.rst_n
        self.prefix = prefix
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")
        self.counter = counter
        self.beats: list[Beat] = []
        self.valid_cycles: list[int] = []  # cycles with tvalid high (reset released)
        self.record_valid = False
        self.violations: list[str] = []

    def _data(self) -> int | None:
        try:
            return int(self.tdata.value.to_unsigned())
        except ValueError:  # X/Z bits
            return None

    async def run(self) -> None:
        pending: int | None = None  # first cycle the current beat was valid
        held: int | None = None  # data of a beat that was valid but not taken
        stalled = False
        while True:
            await FallingEdge(self.clk)
            if not self.rst_n.value:
                pending, stalled = None, False
                continue
            now = self.counter.now
            valid = bool(self.tvalid.value)
            if stalled and not valid:
                self.violations.append(f"cycle {now}: {self.prefix}_tvalid dropped before "
                                       "its beat was taken")
            if not valid:
                stalled = False
                continue
            if self.record_valid:
                self.valid_cycles.append(now)
            pending = now if pending is None else pending
            data = self._data()
            if stalled and data != held:
                self.violations.append(f"cycle {now}: {self.prefix}_tdata changed while "
                                       "stalled")
            if self.tready.value:
                self.beats.append(Beat(data, now, pending))
                pending, stalled = None, False
            else:
                held, stalled = data, True


@dataclass
class TestResult:
    """One test's outcome, as written to the report JSON."""

    name: str
    passed: bool = False
    samples: int = 0
    received: int = 0
    mismatches: int = 0
    missing: int = 0
    extra: int = 0
    stale: int = 0
    unknown: int = 0
    latency: list[int] = field(default_factory=list)
    ii: float | None = None
    cycles: int = 0
    first_mismatch: int | None = None
    violations: int = 0
    errors: list[str] = field(default_factory=list)
    message: str = ""


class Checker:
    """Exact, in-order equality of received output codes against the Model."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def check(self, beats: list[Beat], result: TestResult, offset: int = 0,
              allow_fewer: bool = False) -> None:
        """Compare ``beats`` with expected samples ``offset``...; fill ``result``'s counts."""
        expected = self.model.expected[offset:].tolist()
        result.received += len(beats)
        for i, beat in enumerate(beats[:len(expected)]):
            got = None if beat.value is None else self.model.unpack(beat.value)
            if beat.value is None:
                result.unknown += 1
            if got != expected[i]:
                result.mismatches += 1
                if result.first_mismatch is None:
                    result.first_mismatch = offset + i
                    result.message += self.describe(offset + i, got, expected, i) + "; "
        if not allow_fewer:
            missing = max(0, len(expected) - len(beats))
            result.missing += missing
            result.mismatches += missing  # a sample that never came out is a mismatch too
        result.extra += max(0, len(beats) - len(expected))

    @staticmethod
    def describe(index: int, got: list[int] | None, expected: list[list[int]], i: int) -> str:
        """The first wrong output: which elements differ, and whether it is a later sample
        (samples dropped) or an earlier one (a sample repeated)."""
        if got is None:
            return f"output {index} has X/Z bits"
        want = expected[i]
        diff = [k for k, (a, b) in enumerate(zip(got, want, strict=True)) if a != b]
        shown = ", ".join(f"[{k}] {got[k]} != {want[k]}" for k in diff[:4])
        text = f"output {index}: {len(diff)} of {len(want)} elements differ ({shown}"
        text += ", ...)" if len(diff) > 4 else ")"
        for k in range(1, 65):
            if i + k < len(expected) and got == expected[i + k]:
                return text + f"; it equals expected sample {index + k}: {k} sample(s) dropped"
            if i - k >= 0 and got == expected[i - k]:
                return text + f"; it equals expected sample {index - k}: a sample repeated"
        return text


class Testbench:
    """Clock, reset and the components, wired to one DUT."""

    def __init__(self, dut: Dut, test: str, seed_offset: int,
                 in_gap: float, out_gap: float) -> None:
        self.dut = dut
        self.config = BenchConfig.from_env()
        self.g = check_ports(dut, self.config.contract)
        self.model = Model(self.config, self.g)
        self.checker = Checker(self.model)
        self.rng = random.Random(self.config.seed * 1009 + seed_offset)
        self.counter = CycleCounter(dut.clk)
        self.driver = Driver(dut, gaps(self.rng, in_gap), self.g.in_beats)
        self.ready = ReadyDriver(dut, gaps(self.rng, out_gap))
        self.inputs = Monitor(dut, "s_axis", self.counter)
        self.outputs = Monitor(dut, "m_axis", self.counter)
        self.result = TestResult(test, samples=self.model.out_beats)
        self.idle_limit = 1000 + 20 * (self.g.latency + self.g.ii + self.g.in_beats)
        self._tasks: list[Task[None]] = []

    async def start(self) -> None:
        self.dut.rst_n.value = 0
        self.driver.idle()
        self.dut.m_axis_tready.value = 0
        Clock(self.dut.clk, 10, unit="ns").start(start_high=False)
        for coro in (self.counter.run(), self.ready.run(), self.inputs.run(),
                     self.outputs.run()):
            self._tasks.append(cocotb.start_soon(coro))
        await self.reset()

    async def reset(self) -> None:
        """Hold rst_n low for RESET_CYCLES rising edges; returns just after a rising edge."""
        self.dut.rst_n.value = 0
        for _ in range(RESET_CYCLES):
            await RisingEdge(self.dut.clk)
        self.dut.rst_n.value = 1

    async def wait_outputs(self, count: int) -> None:
        """Wait until ``count`` outputs arrived or none came for ``idle_limit`` cycles, then
        DRAIN_CYCLES more cycles to catch extra beats."""
        last, seen = self.counter.now, len(self.outputs.beats)
        while len(self.outputs.beats) < count and self.counter.now - last < self.idle_limit:
            await RisingEdge(self.dut.clk)
            if len(self.outputs.beats) != seen:
                last, seen = self.counter.now, len(self.outputs.beats)
        for _ in range(DRAIN_CYCLES + self.g.latency):
            await RisingEdge(self.dut.clk)

    def finish(self) -> TestResult:
        r = self.result
        r.cycles = self.counter.now
        r.violations = len(self.outputs.violations)
        r.errors += self.outputs.violations[:3]
        r.passed = r.mismatches == r.missing == r.extra == r.stale == r.unknown == 0 \
            and not r.errors
        if not r.passed:
            r.message += "; ".join(
                [f"{r.mismatches} of {r.samples} samples wrong or missing ({r.missing} missing), "
                 f"{r.extra} extra, {r.stale} stale, {r.unknown} with X/Z, {r.violations} protocol "
                 "violations", *r.errors])
        write_report(self.config.report, r)
        for task in self._tasks:
            task.cancel()
        return r


def write_report(path: Path, result: TestResult) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[result.name] = asdict(result)
    path.write_text(json.dumps(data, indent=2) + "\n")


@cocotb.test()
async def test_random_handshakes(dut: Dut) -> None:
    """Random valid/ready gaps on both sides: every sample arrives, in order, exactly."""
    cfg = BenchConfig.from_env()
    tb = Testbench(dut, "random_handshakes", 1, cfg.in_gap, cfg.out_gap)
    await tb.start()
    await tb.driver.send(tb.model.beats)
    await tb.wait_outputs(tb.model.out_beats)
    tb.checker.check(tb.outputs.beats, tb.result)
    r = tb.finish()
    assert r.passed, r.message


@cocotb.test()
async def test_full_rate(dut: Dut) -> None:
    """Back-to-back samples (frames), tready high: latency and II equal rtl.json, outputs
    exact. Latency runs from a frame's last input handshake to its last output beat's valid;
    II is the interval between the last output beats of consecutive frames."""
    tb = Testbench(dut, "full_rate", 2, 0.0, 0.0)
    await tb.start()
    await tb.driver.send(tb.model.beats)
    await tb.wait_outputs(tb.model.out_beats)
    out, inp = tb.outputs.beats, tb.inputs.beats
    tb.checker.check(out, tb.result)
    r = tb.result
    g = tb.g
    inp, out = inp[g.in_beats - 1::g.in_beats], out[g.out_beats - 1::g.out_beats]
    r.latency = sorted({o.first_valid - i.cycle for i, o in zip(inp, out, strict=False)})
    gaps_ = [b.cycle - a.cycle for a, b in zip(out, out[1:], strict=False)]
    r.ii = sum(gaps_) / len(gaps_) if gaps_ else None
    if g.timing_exact and r.latency != [g.latency]:
        r.errors.append(f"latency {r.latency} cycles, rtl.json says {g.latency}")
    if g.timing_exact and gaps_ and set(gaps_) != {g.ii}:
        r.errors.append(
            f"output intervals {sorted(set(gaps_))} cycles, rtl.json says II = {tb.g.ii}")
    r = tb.finish()
    assert r.passed, r.message


@cocotb.test()
async def test_reset_mid_stream(dut: Dut) -> None:
    """Reset with samples in flight: no stale beat afterwards, then a fresh stream passes."""
    cfg = BenchConfig.from_env()
    tb = Testbench(dut, "reset_mid_stream", 3, cfg.in_gap, cfg.out_gap)
    await tb.start()
    n = tb.model.out_beats
    cut = max(1, len(tb.model.beats) // 3)  # input beats: in mid-frame for io_stream
    sender = cocotb.start_soon(tb.driver.send(tb.model.beats))
    while len(tb.inputs.beats) < cut or len(tb.inputs.beats) == len(tb.outputs.beats):
        if sender.done():
            break
        await RisingEdge(dut.clk)
    sender.cancel()
    before = list(tb.outputs.beats)
    tb.driver.idle()
    tb.ready.enabled = False
    await tb.reset()
    tb.ready.enabled = True
    tb.outputs.beats.clear()
    tb.inputs.beats.clear()
    tb.outputs.record_valid = True
    for _ in range(tb.g.latency + DRAIN_CYCLES):
        await RisingEdge(dut.clk)
    tb.result.stale = len(tb.outputs.valid_cycles)
    tb.outputs.record_valid = False
    tb.checker.check(before, tb.result, allow_fewer=True)
    tb.outputs.beats.clear()
    await tb.driver.send(tb.model.beats)
    await tb.wait_outputs(n)
    tb.checker.check(tb.outputs.beats, tb.result)
    tb.result.samples = n + len(before)
    r = tb.finish()
    assert r.passed, r.message
