"""The comparison report: per device agreement, accuracy, throughput; table, JSON, plot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class DeviceResult:
    device: str
    samples: int
    bit_exact_rate: float | None      # against the baseline's codes; None for float devices
    mismatches: int | None
    max_lsb_vs_reference: float | None
    max_abs_vs_reference: float | None
    accuracy: float | None
    samples_per_s: float
    latency_ms: float                 # wall time of one sample through the warm device
    cycles: int | None

    @classmethod
    def measure(cls, name: str, result: Any, values: NDArray[Any], base_codes: NDArray[Any] | None,
                reference: NDArray[Any] | None, lsb: float, labels: NDArray[Any] | None,
                latency_s: float) -> DeviceResult:
        n = len(values)
        mismatches = None
        if base_codes is not None:
            mismatches = int(np.any(result.outputs != base_codes, axis=1).sum())
        max_abs = None if reference is None else float(np.abs(values - reference).max(initial=0))
        accuracy = None
        if labels is not None:
            accuracy = float((values.reshape(n, -1).argmax(axis=1) == labels).mean())
        return cls(
            device=name, samples=n,
            bit_exact_rate=None if mismatches is None else 1 - mismatches / max(n, 1),
            mismatches=mismatches,
            max_lsb_vs_reference=None if max_abs is None else max_abs / lsb,
            max_abs_vs_reference=max_abs, accuracy=accuracy,
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

    @property
    def all_bit_exact(self) -> bool:
        return all(r.mismatches == 0 for r in self.rows if r.mismatches is not None)

    def row(self, device: str) -> DeviceResult:
        return next(r for r in self.rows if r.device == device)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "samples": self.samples, "baseline": self.baseline,
                "all_bit_exact": self.all_bit_exact, "devices": [asdict(r) for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        head = (f"{'device':<10} {'samples':>8} {'bit-exact vs ' + self.baseline:>18} "
                f"{'max LSB vs ref':>15} {'accuracy':>9} {'samples/s':>11} {'latency ms':>11} "
                f"{'cycles':>9}")
        lines = [f"{self.model}: {self.samples} samples", head]
        for r in self.rows:
            exact = "-" if r.mismatches is None else f"{r.samples - r.mismatches}/{r.samples}"
            lines.append(
                f"{r.device:<10} {r.samples:>8} {exact:>18} "
                f"{_cell(r.max_lsb_vs_reference, '.2f'):>15} {_cell(r.accuracy, '.4f'):>9} "
                f"{r.samples_per_s:>11.0f} {r.latency_ms:>11.3f} {_cell(r.cycles, 'd'):>9}"
            )
        return "\n".join(lines)

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
