"""The comparison report: per device agreement, accuracy, throughput; table, JSON, plot."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)
#: A classifier whose argmax agrees with the framework model on fewer samples than this is
#: far from the model.
FAR_ARGMAX_AGREEMENT = 0.9
#: A model with one output per sample is far from the framework model when its largest error
#: exceeds this fraction of the range of the model's outputs.
FAR_RANGE_FRACTION = 0.1


@dataclass(frozen=True)
class ModelDistance:
    """How far hardware outputs are from the framework model's.

    ``argmax_agreement``: the fraction of samples whose argmax equals the model's (models
    with more than one output per sample, i.e. classifiers; else None). ``far``: why the
    outputs are far from the model, or None when they are close.
    """

    max_lsb: float
    max_abs: float
    argmax_agreement: float | None
    far: str | None

    @classmethod
    def measure(cls, values: NDArray[Any], reference: NDArray[Any], lsb: float
                ) -> ModelDistance:
        n = len(values)
        ours, theirs = values.reshape(n, -1), np.asarray(reference, dtype=np.float64).reshape(n, -1)
        max_abs = float(np.abs(ours - theirs).max(initial=0))
        agreement, far = None, None
        if ours.shape[1] > 1:
            agreement = float((ours.argmax(axis=1) == theirs.argmax(axis=1)).mean()) if n else 1.0
            if agreement < FAR_ARGMAX_AGREEMENT:
                far = (f"argmax agrees with the framework model on {agreement:.1%} of samples "
                       f"(below {FAR_ARGMAX_AGREEMENT:.0%})")
        else:
            spread = float(theirs.max(initial=0) - theirs.min(initial=0))
            if max_abs > FAR_RANGE_FRACTION * spread:
                far = (f"largest error {max_abs:.4g} exceeds {FAR_RANGE_FRACTION:.0%} of the "
                       f"model's output range {spread:.4g}")
        return cls(max_abs / lsb, max_abs, agreement, far)


def far_warning(device: str, baseline: str, far: str) -> str:
    """The warning for hardware that equals ``baseline`` code for code but is ``far`` from
    the framework model: the types, not the hardware, lose the model's answers."""
    return (f"WARNING: {device} is bit-exact with {baseline} but far from the framework model: "
            f"{far}. The fixed-point types lose what the model computes: compile with wider "
            "types (precision=, input_precision=), with no precision for a Keras float model "
            "(types fitted over the input range), or type a PyTorch model from data with "
            "kiln.frontend.infer_fixed_point.")


@dataclass(frozen=True)
class DeviceResult:
    device: str
    samples: int
    bit_exact_rate: float | None      # against the baseline's codes; None for float devices
    mismatches: int | None
    max_lsb_vs_reference: float | None
    max_abs_vs_reference: float | None
    argmax_vs_reference: float | None  # classifiers: fraction of samples whose argmax agrees
    far_from_reference: str | None     # why the outputs are far from the model, else None
    accuracy: float | None
    samples_per_s: float
    latency_ms: float                 # wall time of one sample through the warm device
    cycles: int | None
    #: Where codes differ from the baseline's: the first layer a trace of the differing
    #: samples finds them apart (kiln.trace), or why none was named; None when they agree.
    diverges_at: str | None = None

    @classmethod
    def measure(cls, name: str, result: Any, values: NDArray[Any], base_codes: NDArray[Any] | None,
                reference: NDArray[Any] | None, lsb: float, labels: NDArray[Any] | None,
                latency_s: float) -> DeviceResult:
        n = len(values)
        mismatches = None
        if base_codes is not None:
            mismatches = int(np.any(result.outputs != base_codes, axis=1).sum())
        distance = None if reference is None else ModelDistance.measure(values, reference, lsb)
        accuracy = None
        if labels is not None:
            accuracy = float((values.reshape(n, -1).argmax(axis=1) == labels).mean())
        return cls(
            device=name, samples=n,
            bit_exact_rate=None if mismatches is None else 1 - mismatches / max(n, 1),
            mismatches=mismatches,
            max_lsb_vs_reference=None if distance is None else distance.max_lsb,
            max_abs_vs_reference=None if distance is None else distance.max_abs,
            argmax_vs_reference=None if distance is None else distance.argmax_agreement,
            far_from_reference=None if distance is None else distance.far, accuracy=accuracy,
            samples_per_s=n / result.seconds if result.seconds > 0 else float("inf"),
            latency_ms=latency_s * 1e3, cycles=result.cycles,
        )


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


@dataclass(frozen=True)
class ComparisonReport:
    model: str
    samples: int
    baseline: str
    rows: tuple[DeviceResult, ...]

    def __post_init__(self) -> None:
        for warning in self.warnings:
            log.warning("%s: %s", self.model, warning)

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per device that is bit-exact with the baseline but far from the model."""
        return tuple(far_warning(r.device, self.baseline, r.far_from_reference)
                     for r in self.rows if r.mismatches == 0 and r.far_from_reference)

    @property
    def all_bit_exact(self) -> bool:
        return all(r.mismatches == 0 for r in self.rows if r.mismatches is not None)

    def row(self, device: str) -> DeviceResult:
        return next(r for r in self.rows if r.device == device)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "samples": self.samples, "baseline": self.baseline,
                "all_bit_exact": self.all_bit_exact, "warnings": list(self.warnings),
                "devices": [asdict(r) for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        head = (f"{'device':<10} {'samples':>8} {'bit-exact vs ' + self.baseline:>18} "
                f"{'max LSB vs ref':>15} {'argmax = ref':>12} {'accuracy':>9} {'samples/s':>11} "
                f"{'latency ms':>11} {'cycles':>9}")
        traced = any(r.diverges_at for r in self.rows)
        if traced:
            head += f" {'first bad layer':<16}"
        lines = [f"{self.model}: {self.samples} samples", head]
        for r in self.rows:
            exact = "-" if r.mismatches is None else f"{r.samples - r.mismatches}/{r.samples}"
            lines.append(
                f"{r.device:<10} {r.samples:>8} {exact:>18} "
                f"{_cell(r.max_lsb_vs_reference, '.2f'):>15} "
                f"{_cell(r.argmax_vs_reference, '.4f'):>12} {_cell(r.accuracy, '.4f'):>9} "
                f"{r.samples_per_s:>11.0f} {r.latency_ms:>11.3f} {_cell(r.cycles, 'd'):>9}"
                + (f" {r.diverges_at or '-':<16}" if traced else "")
            )
        return "\n".join([*lines, *self.warnings])

    def plot(self, path: str | Path) -> Path:
        """Bar charts of throughput and of max error against the reference, per device."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [r.device for r in self.rows]
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
        a.bar(names, [r.samples_per_s for r in self.rows], color="tab:blue")
        a.set_yscale("log")
        a.set_ylabel("samples / s")
        a.set_title("throughput")
        b.bar(names, [r.max_lsb_vs_reference or 0 for r in self.rows], color="tab:orange")
        b.set_ylabel("max |error| vs reference (LSB)")
        b.set_title("distance from the framework model")
        fig.suptitle(f"{self.model}: {self.samples} samples")
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out
