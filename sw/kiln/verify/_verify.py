"""`kiln verify`: the RTL verification levels on one artifact, written to
reports/verification.json and summarised as one table row per model."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import ArtifactError, InputShapeError
from kiln.fixed import to_float
from kiln.runtime import Runtime, load
from kiln.runtime._report import (
    FAR_ARGMAX_AGREEMENT,
    FAR_RANGE_FRACTION,
    ModelDistance,
    far_warning,
)
from kiln.runtime._shard import use_ray

log = logging.getLogger(__name__)
DEFAULT_RANDOM_SAMPLES = 10_000
ICARUS_SAMPLES = 200
PROTOCOL_SAMPLES = 300
#: The event-driven simulators (Icarus, cocotb) run at most about this many clock cycles: a
#: design folded to thousands of cycles a sample (the LeNet: 16,000 a frame) gets fewer
#: samples there, at least 2 (the bulk emulator still runs every sample).
EVENT_SIM_CYCLES = 200_000


@dataclass(frozen=True)
class VerificationReport:
    model: str
    samples: int
    input_source: str
    rtl_vs_hls_mismatches: int
    rtl_vs_cpu_mismatches: int
    rtl_vs_reference_mismatches: int | None   # None: the reference is not bit-exact by design
    max_lsb_vs_reference: float | None
    argmax_vs_reference: float | None         # classifiers: samples whose argmax agrees
    far_from_reference: str | None            # why RTL is far from the model, else None
    icarus_samples: int
    icarus_mismatches: int
    protocol_passed: bool
    protocol_samples: int
    protocol_mismatches: int
    latency: int
    latency_measured: int
    ii: int
    ii_measured: float
    accuracy: float | None
    first_mismatch: int | None   # the first sample where RTL differs from any bit-exact level

    @property
    def passed(self) -> bool:
        return (self.rtl_vs_hls_mismatches == 0 and self.rtl_vs_cpu_mismatches == 0
                and self.icarus_mismatches == 0 and self.protocol_passed
                and self.rtl_vs_reference_mismatches in (0, None))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def random_codes(runtime: Runtime, n: int, seed: int = 0) -> NDArray[Any]:
    """Input codes (n, input size) drawn uniformly over every code of the input type."""
    t = runtime.graph.input.out_type
    rng = np.random.default_rng(seed)
    codes: NDArray[Any] = rng.integers(t.min_code, t.max_code + 1,
                                       size=(n, runtime.graph.input.size))
    return codes


def random_inputs(runtime: Runtime, n: int, seed: int = 0) -> NDArray[Any]:
    """Inputs drawn uniformly over every code of the input type (its whole range)."""
    t = runtime.graph.input.out_type
    values = to_float(torch.from_numpy(random_codes(runtime, n, seed)), t).numpy()
    return values.reshape((n, *runtime.graph.input.shape))


@dataclass(frozen=True)
class BulkTally:
    """The RTL bulk comparisons over a contiguous range of samples: what one shard sends
    back, and what shards add up to (:meth:`merge`). ``first_mismatch`` is a sample index in
    the whole input; ``head`` holds the RTL codes of the range's samples below
    :data:`PROTOCOL_SAMPLES` (the Icarus and cocotb checks compare against them)."""

    samples: int
    rtl_vs_hls: int
    rtl_vs_cpu: int
    rtl_vs_reference: int | None         # None: the reference is not bit-exact by design
    first_mismatch: int | None
    distance: ModelDistance
    argmax_agree: int | None            # samples whose argmax equals the model's
    reference_low: float                # min(0, every reference output)
    reference_high: float               # max(0, every reference output)
    correct: int | None                 # with labels: samples whose argmax is the label
    head: NDArray[Any]

    @classmethod
    def merge(cls, parts: list[BulkTally], lsb: float) -> BulkTally:
        """The tally of consecutive ranges, in order: counts summed, the worst distance
        kept, the first mismatch the earliest. The distance to the model is what
        ModelDistance.measure gives over the whole input."""
        if len(parts) == 1:
            return parts[0]
        n = sum(p.samples for p in parts)
        max_abs = max(p.distance.max_abs for p in parts)
        low, high = min(p.reference_low for p in parts), max(p.reference_high for p in parts)
        agree = None if parts[0].argmax_agree is None else sum(
            p.argmax_agree or 0 for p in parts)
        agreement, far = None, None
        if agree is not None:   # mirrors ModelDistance.measure, over every shard's samples
            agreement = agree / n if n else 1.0
            if agreement < FAR_ARGMAX_AGREEMENT:
                far = (f"argmax agrees with the framework model on {agreement:.1%} of samples "
                       f"(below {FAR_ARGMAX_AGREEMENT:.0%})")
        elif max_abs > FAR_RANGE_FRACTION * (high - low):
            far = (f"largest error {max_abs:.4g} exceeds {FAR_RANGE_FRACTION:.0%} of the "
                   f"model's output range {high - low:.4g}")
        firsts = [p.first_mismatch for p in parts if p.first_mismatch is not None]
        return cls(
            samples=n, rtl_vs_hls=sum(p.rtl_vs_hls for p in parts),
            rtl_vs_cpu=sum(p.rtl_vs_cpu for p in parts),
            rtl_vs_reference=None if parts[0].rtl_vs_reference is None else sum(
                p.rtl_vs_reference or 0 for p in parts),
            first_mismatch=min(firsts) if firsts else None,
            distance=ModelDistance(max_abs / lsb, max_abs, agreement, far),
            argmax_agree=agree, reference_low=low, reference_high=high,
            correct=None if parts[0].correct is None else sum(p.correct or 0 for p in parts),
            head=np.concatenate([p.head for p in parts]),
        )


def bulk_compare(runtime: Runtime, codes: NDArray[Any], labels: NDArray[Any] | None,
                 first: int = 0) -> BulkTally:
    """The Verilated RTL against the HLS C simulation, kiln.fixed and the framework model on
    input ``codes``, samples ``first`` on of the whole input (``labels``: theirs, or None)."""
    rtl = runtime.device("fpga-sim").run(codes).outputs
    hls = runtime.device("hls").run(codes).outputs
    cpu = runtime.device("cpu").run(codes).outputs
    reference = runtime.device("reference").run(codes).outputs
    out_type = runtime.graph.output.out_type
    rtl_values = to_float(torch.from_numpy(rtl), out_type).numpy()
    distance = ModelDistance.measure(rtl_values, reference, out_type.lsb)
    differs = np.any(rtl != hls, axis=1) | np.any(rtl != cpu, axis=1)
    ref_mismatches = None
    if runtime.artifact.manifest.reference_bit_exact:
        ref_differs = np.any(rtl_values != reference, axis=1)
        ref_mismatches = int(ref_differs.sum())
        differs |= ref_differs
    bad = np.flatnonzero(differs)
    n = len(codes)
    theirs = np.asarray(reference, dtype=np.float64).reshape(n, -1)
    return BulkTally(
        samples=n, rtl_vs_hls=int(np.any(rtl != hls, axis=1).sum()),
        rtl_vs_cpu=int(np.any(rtl != cpu, axis=1).sum()), rtl_vs_reference=ref_mismatches,
        first_mismatch=first + int(bad[0]) if len(bad) else None, distance=distance,
        argmax_agree=None if distance.argmax_agreement is None else int(
            (rtl_values.reshape(n, -1).argmax(axis=1) == theirs.argmax(axis=1)).sum()),
        reference_low=float(theirs.min(initial=0)), reference_high=float(theirs.max(initial=0)),
        correct=None if labels is None else int(
            (rtl.argmax(axis=1) == np.asarray(labels).reshape(-1)).sum()),
        head=rtl[:max(0, PROTOCOL_SAMPLES - first)],
    )


def verify(artifact_dir: str | Path, x: Any = None, labels: Any = None,
           samples: int = DEFAULT_RANDOM_SAMPLES, seed: int = 0,
           protocol: bool = True, *, workers: int | None = None,
           address: str | None = None) -> VerificationReport:
    """Run RTL bulk (Verilator) against HLS C-sim, kiln.fixed and the framework model,
    Icarus on a subset, and the cocotb protocol bench; write reports/verification.json.

    With ``workers`` > 1 or an ``address``, the RTL bulk runs in contiguous shards on Ray
    workers (kiln.verify._shard), each loading the artifact from its path, and the shards'
    counts are merged: the report is the one this process would write.

    Raises:
        InputShapeError: no samples to verify (``samples`` < 1, or empty ``x``): a
            verification of nothing would pass; labels not one per sample.
        ArtifactError: the artifact does not load, or its reports/ cannot be written.
        kiln.runtime.ShardError: a shard failed on every attempt (named with its range).
    """
    from kiln.sim import run_icarus, run_protocol_bench

    if x is None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise InputShapeError(f"verify needs at least one sample; samples={samples!r} "
                              "(kiln verify --samples N, N >= 1)")
    root = Path(artifact_dir)
    runtime = load(root)
    source = "given inputs"
    if x is None:
        codes = random_codes(runtime, samples, seed)
        source = f"{samples} random codes over the input type"
    else:
        codes = runtime.input_codes(x)
    if not len(codes):
        raise InputShapeError("verify needs at least one sample; the inputs hold none")
    label_array = None if labels is None else np.asarray(labels).reshape(-1)
    if label_array is not None and len(label_array) != len(codes):
        raise InputShapeError(f"verify got {len(label_array)} labels for {len(codes)} samples; "
                              "give one label per sample")
    log.info("verify %s: %d samples (%s)", runtime.graph.name, len(codes), source)
    if use_ray("verify", workers, address) and len(codes) > 1:
        from kiln.verify._shard import bulk_sharded

        bulk = bulk_sharded(runtime, codes, label_array, workers, address)
    else:
        bulk = bulk_compare(runtime, codes, label_array)

    meta = runtime.artifact.manifest
    affordable = max(2, EVENT_SIM_CYCLES // max(meta.ii, 1))
    subset = codes[:min(ICARUS_SAMPLES, affordable)]
    icarus = run_icarus(root / "rtl", subset, root / "sim" / "icarus")
    bench = None
    if protocol:
        n = min(PROTOCOL_SAMPLES, affordable)
        bench = run_protocol_bench(root / "rtl", codes[:n], bulk.head[:n],
                                   root / "sim" / "cocotb", seed=seed)
    distance = bulk.distance
    if bulk.rtl_vs_hls == 0 and distance.far:
        log.warning("%s: %s", runtime.graph.name, far_warning("RTL", "HLS", distance.far))
    report = VerificationReport(
        model=runtime.graph.name, samples=len(codes), input_source=source,
        rtl_vs_hls_mismatches=bulk.rtl_vs_hls, rtl_vs_cpu_mismatches=bulk.rtl_vs_cpu,
        rtl_vs_reference_mismatches=bulk.rtl_vs_reference, max_lsb_vs_reference=distance.max_lsb,
        argmax_vs_reference=distance.argmax_agreement, far_from_reference=distance.far,
        icarus_samples=len(subset),
        icarus_mismatches=int(np.any(icarus != bulk.head[:len(subset)], axis=1).sum()),
        protocol_passed=bench.passed if bench else True,
        protocol_samples=bench.samples if bench else 0,
        protocol_mismatches=bench.mismatches if bench else 0,
        latency=meta.latency, latency_measured=bench.latency if bench else -1,
        ii=meta.ii, ii_measured=float(bench.ii) if bench else -1.0,
        accuracy=None if bulk.correct is None else bulk.correct / len(codes),
        first_mismatch=bulk.first_mismatch,
    )
    report_file = root / "reports" / "verification.json"
    try:
        report_file.parent.mkdir(exist_ok=True)
        report_file.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    except OSError as exc:
        raise ArtifactError(f"Cannot write {report_file} ({exc.strerror}); make the artifact "
                            f"writable (chmod -R u+w {root})") from exc
    return report


def format_table(reports: list[VerificationReport]) -> str:
    head = (f"{'model':<14} {'samples':>7} {'RTL≠HLS':>8} {'RTL≠cpu':>8} {'RTL≠ref':>8} "
            f"{'ref LSB':>8} {'argmax=ref':>10} {'icarus≠':>9} {'cocotb':>12} {'latency':>8} "
            f"{'II':>4} {'result':>7}")
    lines = [head, "-" * len(head)]
    for r in reports:
        ref = "n/a" if r.rtl_vs_reference_mismatches is None else str(r.rtl_vs_reference_mismatches)
        lsb = "-" if r.max_lsb_vs_reference is None else f"{r.max_lsb_vs_reference:.1f}"
        argmax = "-" if r.argmax_vs_reference is None else f"{r.argmax_vs_reference:.2%}"
        measured = r.protocol_samples > 0  # the cocotb bench ran and measured the pipeline
        bench = (f"{r.protocol_samples - r.protocol_mismatches}/{r.protocol_samples}"
                 if measured else "skipped")
        latency = f"{r.latency_measured}" if measured else f"({r.latency})"
        ii = f"{r.ii_measured:.0f}" if measured else f"({r.ii})"
        lines.append(
            f"{r.model:<14} {r.samples:>7} {r.rtl_vs_hls_mismatches:>8} "
            f"{r.rtl_vs_cpu_mismatches:>8} {ref:>8} {lsb:>8} {argmax:>10} "
            f"{f'{r.icarus_mismatches}/{r.icarus_samples}':>9} {bench:>12} "
            f"{latency:>8} {ii:>4} {'PASS' if r.passed else 'FAIL':>7}"
        )
    lines += [f"{r.model}: RTL first differs at sample {r.first_mismatch}"
              for r in reports if r.first_mismatch is not None]
    lines += [f"{r.model}: {far_warning('RTL', 'HLS', r.far_from_reference)}"
              for r in reports if r.far_from_reference and r.rtl_vs_hls_mismatches == 0]
    lines.append("cocotb: samples through the protocol benches (random backpressure, reset in "
                 "mid-stream) that arrived intact; latency/II measured there, (stated) if skipped")
    return "\n".join(lines)
