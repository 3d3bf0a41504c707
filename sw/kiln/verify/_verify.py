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
from kiln.runtime._report import ModelDistance, far_warning

log = logging.getLogger(__name__)
DEFAULT_RANDOM_SAMPLES = 10_000
ICARUS_SAMPLES = 200
PROTOCOL_SAMPLES = 300


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

    @property
    def passed(self) -> bool:
        return (self.rtl_vs_hls_mismatches == 0 and self.rtl_vs_cpu_mismatches == 0
                and self.icarus_mismatches == 0 and self.protocol_passed
                and self.rtl_vs_reference_mismatches in (0, None))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def random_inputs(runtime: Runtime, n: int, seed: int = 0) -> NDArray[Any]:
    """Inputs drawn uniformly over every code of the input type (its whole range)."""
    t = runtime.graph.input.out_type
    rng = np.random.default_rng(seed)
    codes = rng.integers(t.min_code, t.max_code + 1, size=(n, runtime.graph.input.size))
    values = to_float(torch.from_numpy(codes), t).numpy()
    return values.reshape((n, *runtime.graph.input.shape))


def _reference_agreement(runtime: Runtime, x: NDArray[Any], rtl_codes: NDArray[Any]
                         ) -> tuple[int | None, ModelDistance]:
    """Mismatching samples against the framework model where its quantizers define every
    type (else None), and how far the RTL is from it (LSBs of the output type, argmax)."""
    reference = runtime.device("reference").run(runtime.input_codes(x)).outputs
    out_type = runtime.graph.output.out_type
    rtl_values = to_float(torch.from_numpy(rtl_codes), out_type).numpy()
    distance = ModelDistance.measure(rtl_values, reference, out_type.lsb)
    if not runtime.artifact.manifest.reference_bit_exact:
        return None, distance
    return int(np.any(rtl_values != reference, axis=1).sum()), distance


def verify(artifact_dir: str | Path, x: Any = None, labels: Any = None,
           samples: int = DEFAULT_RANDOM_SAMPLES, seed: int = 0,
           protocol: bool = True) -> VerificationReport:
    """Run RTL bulk (Verilator) against HLS C-sim, kiln.fixed and the framework model,
    Icarus on a subset, and the cocotb protocol bench; write reports/verification.json.

    Raises:
        InputShapeError: no samples to verify (``samples`` < 1, or empty ``x``): a
            verification of nothing would pass.
        ArtifactError: the artifact does not load, or its reports/ cannot be written.
    """
    from kiln.sim import run_icarus, run_protocol_bench

    if x is None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise InputShapeError(f"verify needs at least one sample; samples={samples!r} "
                              "(kiln verify --samples N, N >= 1)")
    root = Path(artifact_dir)
    runtime = load(root)
    source = "given inputs"
    if x is None:
        x = random_inputs(runtime, samples, seed)
        source = f"{samples} random codes over the input type"
    codes = runtime.input_codes(x)
    if not len(codes):
        raise InputShapeError("verify needs at least one sample; the inputs hold none")
    log.info("verify %s: %d samples (%s)", runtime.graph.name, len(codes), source)
    rtl = runtime.device("fpga-sim").run(codes)
    hls = runtime.device("hls").run(codes)
    cpu = runtime.device("cpu").run(codes)
    ref_mismatches, distance = _reference_agreement(runtime, x, rtl.outputs)

    subset = codes[:ICARUS_SAMPLES]
    icarus = run_icarus(root / "rtl", subset, root / "sim" / "icarus")
    meta = runtime.artifact.manifest
    bench = None
    if protocol:
        bench = run_protocol_bench(root / "rtl", codes[:PROTOCOL_SAMPLES],
                                   rtl.outputs[:PROTOCOL_SAMPLES], root / "sim" / "cocotb",
                                   seed=seed)
    accuracy = None
    if labels is not None:
        accuracy = float((rtl.outputs.argmax(axis=1) == np.asarray(labels).reshape(-1)).mean())
    rtl_vs_hls = int(np.any(rtl.outputs != hls.outputs, axis=1).sum())
    if rtl_vs_hls == 0 and distance.far:
        log.warning("%s: %s", runtime.graph.name, far_warning("RTL", "HLS", distance.far))
    report = VerificationReport(
        model=runtime.graph.name, samples=len(codes), input_source=source,
        rtl_vs_hls_mismatches=rtl_vs_hls,
        rtl_vs_cpu_mismatches=int(np.any(rtl.outputs != cpu.outputs, axis=1).sum()),
        rtl_vs_reference_mismatches=ref_mismatches, max_lsb_vs_reference=distance.max_lsb,
        argmax_vs_reference=distance.argmax_agreement, far_from_reference=distance.far,
        icarus_samples=len(subset),
        icarus_mismatches=int(np.any(icarus != rtl.outputs[:len(subset)], axis=1).sum()),
        protocol_passed=bench.passed if bench else True,
        protocol_samples=bench.samples if bench else 0,
        protocol_mismatches=bench.mismatches if bench else 0,
        latency=meta.latency, latency_measured=bench.latency if bench else -1,
        ii=meta.ii, ii_measured=float(bench.ii) if bench else -1.0, accuracy=accuracy,
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
    lines += [f"{r.model}: {far_warning('RTL', 'HLS', r.far_from_reference)}"
              for r in reports if r.far_from_reference and r.rtl_vs_hls_mismatches == 0]
    lines.append("cocotb: samples through the protocol benches (random backpressure, reset in "
                 "mid-stream) that arrived intact; latency/II measured there, (stated) if skipped")
    return "\n".join(lines)
