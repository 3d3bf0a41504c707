"""kiln.explore on a local Ray: a tiny space (two 64-8-10 MLPs and a failing point) trained,
compiled, verified and costed on 2 workers; a rerun and ``kiln explore`` reuse the results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kiln
from kiln.cli import main
from kiln.study import _run

RECIPE = Path(__file__).resolve().parent / "tiny_recipe.py"
SPACE = {"bits": [3, 4, 99]}  # bits=99: the recipe raises at once, a failing trial


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("explore") / "tiny"
    return kiln.explore(RECIPE, SPACE, out=out, workers=2)


@pytest.mark.verilator
@pytest.mark.icarus
def test_every_point_runs_and_a_failure_is_recorded(study: Any) -> None:
    ok, failed = study.ok, study.failed
    assert [t.config["bits"] for t in ok] == [3, 4]
    assert all(t.bit_exact and t.verified_samples == 300 for t in ok)
    assert all(t.accuracy > 0.3 and t.accuracy_fixed == t.accuracy for t in ok)
    assert ok[0].lut4 < ok[1].lut4 and all(t.latency > 0 and t.ii == 1 for t in ok)
    assert [t.config["bits"] for t in failed] == [99]
    assert "ValueError: this configuration fails on purpose" in failed[0].error
    out = Path(study.out)
    assert len(list((out / "trials").glob("*.json"))) == 3
    assert (out / "pareto.png").stat().st_size > 1000
    assert json.loads((out / "study.json").read_text())["pareto"]
    assert {t.key for t in study.pareto()} <= {t.key for t in ok}


@pytest.mark.verilator
@pytest.mark.icarus
def test_rerun_skips_finished_trials(study: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(_run, "_run_on_ray", lambda rec, todo, *a, **k: calls.append(todo))
    again = kiln.explore(RECIPE, {"bits": [3, 4]}, out=study.out)
    assert calls == [] and again.trials == study.ok
    with pytest.raises(KeyError):  # the failed point is retried; the stub records nothing
        kiln.explore(RECIPE, SPACE, out=study.out)
    assert [list(todo.values()) for todo in calls] == [[{"bits": 99}]]


@pytest.mark.verilator
@pytest.mark.icarus
def test_cli(study: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.yml"
    space.write_text("bits: [3, 4]\n")
    assert main(["explore", str(RECIPE), "--space", str(space), "--out", study.out]) == 0
    text = capsys.readouterr().out
    assert "2 of 2 trials finished, 2 bit-exact" in text and "pareto.png" in text
