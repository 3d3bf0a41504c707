"""``kiln.explore``: the trials of a search space on Ray (a local Ray started here, or a
cluster given by address), cached by content hash so a rerun skips finished trials."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln._ray import ray_session
from kiln.study._space import SearchSpace
from kiln.study._study import Study
from kiln.study._trial import VERIFY_SAMPLES, Recipe, TrialResult, run_trial, trial_key

log = logging.getLogger(__name__)


def explore(recipe: str | Path, space: SearchSpace | Mapping[str, Any], *,
            out: str | Path | None = None, workers: int | None = None,
            address: str | None = None, samples: int = VERIFY_SAMPLES,
            retry_failed: bool = True, **compile_options: Any) -> Study:
    """Train, compile, verify and cost every point of ``space`` in parallel on Ray.

    Args:
        recipe: a Python file defining ``train(config) -> model`` and
            ``data() -> (x_test, y_test)``.
        space: ``{key: [values]}`` (a grid), a :class:`SearchSpace`, or the long form
            ``{"strategy": "random", "samples": N, "seed": S, "space": {...}}``. Keys in
            :data:`kiln.study.COMPILE_KEYS` (``reuse_factor``, ``io_type``,
            ``adder_levels``, ...) go to kiln.compile, every other key to the recipe.
        out: the study's folder (default ``build/explore/<recipe name>``): ``trials/`` one
            JSON result per trial (the resume state), ``cache/`` the artifacts,
            ``study.json``, ``table.txt`` and ``pareto.png``.
        workers: trials at once. A local Ray gets this many CPUs (default 2); on a cluster
            it caps the trials in flight (default: as many as the cluster schedules).
        address: a Ray cluster (``ray://HOST:10001``, or ``auto`` for the one this machine
            belongs to); ``None`` starts a local Ray for this call and stops it after.
        samples: test samples verified bit for bit per trial.
        retry_failed: run again the trials whose recorded result is an error.
        **compile_options: kiln.compile options for every trial (``board``, ``part``, ...);
            a space key of the same name overrides them.

    Returns:
        The study, one result per point; failed trials carry their error.
    """
    import kiln

    started = time.perf_counter()
    rec = Recipe.read(recipe)
    points = [{**compile_options, **p} for p in SearchSpace.of(space).points()]
    root = Path(out) if out is not None else Path("build") / "explore" / rec.name
    trials_dir = root / "trials"
    trials_dir.mkdir(parents=True, exist_ok=True)
    keys = [trial_key(rec, p, kiln.__version__) for p in points]
    results: dict[str, TrialResult] = {}
    for key in keys:
        file = trials_dir / f"{key}.json"
        if file.is_file():
            cached = TrialResult.from_dict(json.loads(file.read_text()))
            if cached.ok or not retry_failed:
                results[key] = cached
    todo = {k: p for k, p in zip(keys, points, strict=True) if k not in results}
    log.info("explore %s: %d points, %d done before, %d to run", rec.name, len(points),
             len(points) - len(todo), len(todo))
    if todo:
        _run_on_ray(rec, todo, root, trials_dir, workers, address, samples, results,
                    kiln.__version__)
    study = Study(str(rec.path), tuple(results[k] for k in keys), str(root),
                  time.perf_counter() - started)
    study.save(root / "study.json")
    (root / "table.txt").write_text(study.table() + "\n")
    study.plot(root / "pareto.png")
    log.info("explore %s: %d of %d trials finished in %.0f s; %s", rec.name, len(study.ok),
             len(points), study.wall_s, root)
    return study


def _run_on_ray(rec: Recipe, todo: dict[str, dict[str, Any]], root: Path, trials_dir: Path,
                workers: int | None, address: str | None, samples: int,
                results: dict[str, TrialResult], version: str) -> None:
    """Run ``todo`` (key -> configuration) as Ray tasks; record each result as it lands."""
    import ray

    cache = str((root / "cache").resolve())
    task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
    queue = list(todo.items())
    pending: dict[Any, tuple[str, dict[str, Any]]] = {}
    done = 0
    with ray_session(workers, address) as slots:
        cap = slots or len(todo)
        while queue or pending:
            while queue and len(pending) < cap:
                key, config = queue.pop(0)
                pending[task.remote(rec, config, cache, version, samples)] = (key, config)
            ready, _ = ray.wait(list(pending), num_returns=1)
            key, config = pending.pop(ready[0])
            try:
                result: TrialResult = ray.get(ready[0])
            except Exception as exc:  # the worker died (killed, out of memory): record it
                result = TrialResult(key=key, config=config, status="error",
                                     error=f"ray: {type(exc).__name__}: {exc}")
            results[key] = result
            (trials_dir / f"{key}.json").write_text(
                json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            done += 1
            log.info("trial %d/%d %s %s: %s", done, len(todo), key, _brief(config),
                     _summary(result))


def _brief(config: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in config.items())


def _summary(result: TrialResult) -> str:
    if not result.ok:
        return f"FAILED {result.error}"
    exact = "bit-exact" if result.bit_exact else "NOT bit-exact"
    return (f"accuracy {result.accuracy_fixed:.4f}, {exact}, "
            f"{result.lut4} LUT4, latency {result.latency}, II {result.ii} "
            f"({sum(result.seconds.values()):.0f} s)")
