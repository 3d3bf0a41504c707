"""A study: every trial's result, as a table, the Pareto front and a plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.study._trial import TrialResult

#: The table's measured columns: (header, attribute, format).
_COLUMNS = (("acc", "accuracy", "{:.4f}"), ("acc fixed", "accuracy_fixed", "{:.4f}"),
            ("exact", "bit_exact", "{}"), ("LUT4", "lut4", "{}"), ("LUT6", "lut6", "{}"),
            ("FF", "ff", "{}"), ("DSP", "dsp", "{}"), ("lat", "latency", "{}"),
            ("II", "ii", "{}"))


@dataclass(frozen=True)
class Study:
    """The results of :func:`kiln.explore`, in the order of the search space's points.

    Attributes:
        recipe: the recipe file.
        trials: one result per point, finished or failed.
        out: the folder the study wrote (``study.json``, ``trials/``), if any.
        wall_s: the wall time of the run that produced this study, in seconds.
    """

    recipe: str
    trials: tuple[TrialResult, ...]
    out: str | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> tuple[TrialResult, ...]:
        return tuple(t for t in self.trials if t.ok)

    @property
    def failed(self) -> tuple[TrialResult, ...]:
        return tuple(t for t in self.trials if not t.ok)

    def pareto(self) -> list[TrialResult]:
        """The finished, bit-exact trials that no other such trial beats on all three of
        kiln.fixed accuracy (higher), LUTs (fewer) and latency (fewer cycles), by LUTs."""
        pool = [t for t in self.ok if t.bit_exact]

        def objectives(t: TrialResult) -> tuple[float, float, float]:
            return (-(t.accuracy_fixed or 0.0), float(t.lut4 or 0), float(t.latency or 0))

        front = []
        for t in pool:
            mine = objectives(t)
            if not any(all(a <= b for a, b in zip(objectives(o), mine, strict=True))
                       and objectives(o) != mine for o in pool):
                front.append(t)
        return sorted(front, key=lambda t: (t.lut4 or 0, -(t.accuracy_fixed or 0.0)))

    def table(self, trials: Sequence[TrialResult] | None = None) -> str:
        """A text table: one row per trial, its configuration then what it measured (or
        its error); Pareto-front rows marked ``*``."""
        rows = list(self.trials if trials is None else trials)
        keys = list(dict.fromkeys(k for t in rows for k in t.config))
        front = {t.key for t in self.pareto()}
        head = ["", *keys, *(c[0] for c in _COLUMNS)]
        body = []
        for t in rows:
            cells = ["*" if t.key in front else "", *(_cell(t.config.get(k)) for k in keys)]
            if t.ok:
                cells += [_cell(getattr(t, a), f) for _, a, f in _COLUMNS]
            else:
                cells += [f"error: {t.error}"]
            body.append(cells)
        full = [head, *(r for r in body if len(r) == len(head))]  # error rows: free text
        widths = [max(len(r[i]) for r in full) for i in range(len(head))]
        lines = [" ".join(c.rjust(w) for c, w in zip(head, widths, strict=True))]
        lines.append("-" * len(lines[0]))
        for cells in body:
            fixed = " ".join(c.rjust(w) for c, w in zip(cells, widths, strict=False))
            lines.append(fixed if len(cells) == len(head) else
                         " ".join(c.rjust(w) for c, w in zip(cells[:-1], widths, strict=False))
                         + " " + cells[-1])
        lines.append(f"{len(self.ok)} of {len(self.trials)} trials finished, "
                     f"{sum(1 for t in self.ok if t.bit_exact)} bit-exact; * Pareto front "
                     "(accuracy of kiln.fixed, LUT4, latency)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, path: str | Path) -> Path:
        """Accuracy (kiln.fixed) against LUT4s, colour the latency in cycles, the Pareto
        front joined; written as PNG to ``path``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ok = [t for t in self.ok if t.lut4 is not None]

        def xy(trials: Sequence[TrialResult]) -> tuple[list[float], list[float]]:
            return ([float(t.lut4 or 0) for t in trials],
                    [float(t.accuracy_fixed or 0.0) for t in trials])

        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        if ok:
            dots = ax.scatter(*xy(ok), c=[float(t.latency or 0) for t in ok], cmap="viridis", s=36,
                              marker="o", edgecolors="none")
            fig.colorbar(dots, ax=ax, label="latency (cycles)")
            inexact = [t for t in ok if not t.bit_exact]
            if inexact:
                ax.scatter(*xy(inexact), marker="x", c="red", label="not bit-exact")
        front = self.pareto()
        if front:
            ax.plot(*xy(front), "k--", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("LUT4 (kiln estimate)")
        ax.set_ylabel("test accuracy (kiln.fixed = RTL)")
        ax.set_title(f"{Path(self.recipe).stem}: {len(ok)} design points")
        if front or any(not t.bit_exact for t in ok):
            ax.legend(loc="best")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "wall_s": round(self.wall_s, 2),
                "trials": [t.to_dict() for t in self.trials],
                "pareto": [t.key for t in self.pareto()]}

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return out


def _cell(value: Any, fmt: str = "{}") -> str:
    if value is None:
        return "-"
    return fmt.format(value)
