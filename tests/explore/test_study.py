"""kiln.explore Study: the Pareto front, the table and the plot, on made-up results."""

from __future__ import annotations

from pathlib import Path

from kiln.study import Study, TrialResult


def _trial(key: str, acc: float, lut: int, latency: int, exact: bool = True) -> TrialResult:
    return TrialResult(key=key, config={"bits": int(key[1:])}, status="ok", accuracy=acc,
                       accuracy_fixed=acc, bit_exact=exact, verified_samples=300, lut4=lut,
                       lut6=lut // 2, ff=lut // 3, dsp=0, bram=0, latency=latency, ii=1)


STUDY = Study("r.py", (
    _trial("b3", 0.90, 1000, 5),
    _trial("b4", 0.95, 2000, 6),
    _trial("b5", 0.94, 2500, 6),            # beaten by b4 on every axis
    _trial("b6", 0.97, 4000, 4),
    _trial("b8", 0.99, 500, 3, exact=False),  # not bit-exact: never on the front
    TrialResult(key="b9", config={"bits": 9}, status="error", error="train: ValueError: no"),
))


def test_pareto_drops_dominated_and_inexact_points() -> None:
    assert [t.key for t in STUDY.pareto()] == ["b3", "b4", "b6"]


def test_table_marks_the_front_and_shows_errors() -> None:
    text = STUDY.table()
    lines = text.splitlines()
    assert lines[0].split() == ["bits", "acc", "acc", "fixed", "exact", "LUT4", "LUT6", "FF",
                                "DSP", "lat", "II"]
    assert lines[2].split()[:2] == ["*", "3"] and lines[4].split()[0] == "5"
    assert "error: train: ValueError: no" in text
    assert "5 of 6 trials finished, 4 bit-exact" in text


def test_plot_and_save(tmp_path: Path) -> None:
    assert STUDY.plot(tmp_path / "p.png").stat().st_size > 1000
    saved = STUDY.save(tmp_path / "s.json").read_text()
    assert '"pareto": [\n    "b3"' in saved
