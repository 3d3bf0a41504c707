"""Sharding over Ray: one large job cut into contiguous index ranges, each run as a Ray task
that loads the artifact itself, retried when its worker fails, and merged in input order;
progress is logged as shards land. Ray is imported only when shards run."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import ArtifactError, KilnError

if TYPE_CHECKING:
    from kiln.runtime._runtime import Runtime

log = logging.getLogger(__name__)

#: The most input bytes one shard carries: a local Ray's object store (256 MiB) holds the
#: shards in flight and their results.
SHARD_BYTES = 32 * 1024 * 1024

#: Attempts after the first for a shard whose worker failed (crashed, lost, out of memory, an
#: unexpected exception). A KilnError is the input's or the artifact's fault: never retried.
RETRIES = 1


def use_ray(what: str, workers: int | None, address: str | None,
            shards: int | None = None) -> bool:
    """Whether ``what`` (predict, verify) with these options runs on Ray: ``workers`` > 1,
    an ``address`` or ``shards`` given, and Ray installed. Without Ray, ``workers`` is
    ignored with a warning.

    Raises:
        KilnError: ``workers`` or ``shards`` is not a positive integer, or an ``address`` is
            given where Ray is not installed.
    """
    for name, value in (("workers", workers), ("shards", shards)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise KilnError(f"{what}({name}={value!r}): give a positive integer, or None")
    if address is None and (workers or 1) == 1 and shards is None:
        return False
    if importlib.util.find_spec("ray") is None:
        if address is not None:
            raise KilnError(f"{what}(address={address!r}) needs Ray, which is not installed "
                            "here; install the pinned ray (requirements.lock) or drop address")
        log.warning("%s: Ray is not installed; running in this process, not on %s workers",
                    what, workers)
        return False
    return True


@dataclass(frozen=True)
class Shard:
    """Samples ``start`` up to (not including) ``stop`` of the whole input; ``index`` counts
    shards from 0. ``label`` names what it holds when that is not samples (an artifact)."""

    index: int
    start: int
    stop: int
    label: str = ""

    @property
    def size(self) -> int:
        return self.stop - self.start

    def __str__(self) -> str:
        return self.label or f"shard {self.index} (samples {self.start}..{self.stop - 1})"


def split(n: int, count: int) -> tuple[Shard, ...]:
    """``count`` contiguous shards covering ``range(n)`` in order, their sizes differing by at
    most one (fewer when there are fewer samples than shards; none for no samples)."""
    count = max(1, min(count, n))
    base, extra = divmod(n, count)
    shards, start = [], 0
    for index in range(count if n else 0):
        stop = start + base + (index < extra)
        shards.append(Shard(index, start, stop))
        start = stop
    return tuple(shards)


def shard_count(n: int, slots: int, bytes_per_sample: int) -> int:
    """Shards for ``n`` samples on ``slots`` workers: one per worker at least, and none
    bigger than :data:`SHARD_BYTES` of input."""
    return max(1, min(n, max(slots, math.ceil(n * bytes_per_sample / SHARD_BYTES))))


@dataclass(frozen=True)
class ShardFailure:
    """A shard that failed on every attempt, with the last error."""

    shard: Shard
    attempts: int
    error: str


class ShardError(KilnError):
    """Shards failed on every attempt; nothing was merged. ``failures`` names each one's range
    (or artifact) and error."""

    def __init__(self, what: str, failures: Sequence[ShardFailure], total: int) -> None:
        self.failures = tuple(failures)
        lines = "; ".join(f"{f.shard} after {f.attempts} attempt(s): {f.error.rstrip('.')}"
                          for f in self.failures)
        super().__init__(
            f"{what}: {len(self.failures)} of {total} shard(s) failed, so no result was "
            f"merged: {lines}. Fix the cause named (rerun with workers=1 to see it in this "
            "process)")


@dataclass(frozen=True)
class ShardRun:
    """What :func:`run_shards` got back: each finished shard's result by shard index, and
    the shards that failed."""

    results: dict[int, Any]
    failures: tuple[ShardFailure, ...]

    def ordered(self, what: str, total: int) -> list[Any]:
        """The results in shard order.

        Raises:
            ShardError: a shard failed; it names every failed shard's range and error.
        """
        if self.failures:
            raise ShardError(what, self.failures, total)
        return [self.results[i] for i in sorted(self.results)]


def run_shards(task: Callable[..., Any], shards: Sequence[Shard],
               arguments: Callable[[Shard], tuple[Any, ...]], *, workers: int | None,
               address: str | None, what: str, unit: str = "samples",
               retries: int = RETRIES) -> ShardRun:
    """Run ``task(*arguments(shard))`` for every shard as a Ray task (one CPU each) on a local
    Ray with ``workers`` CPUs or on the cluster at ``address`` (:func:`kiln._ray.ray_session`).

    Arguments are built only when a shard is sent, and no more shards are in flight than
    there are workers plus one, so memory holds a few shards, not the whole input twice. A
    shard whose task raises anything but a :class:`KilnError` (its worker died, ran out of
    memory, hit a bug) is sent again up to ``retries`` times; a KilnError (bad input, a
    missing tool) would fail again and is recorded at once. Progress (``unit`` done / total)
    is logged at INFO as each shard lands.
    """
    import ray

    from kiln._ray import ray_session

    remote = ray.remote(num_cpus=1, max_retries=0)(task)
    total = sum(s.size for s in shards)
    results: dict[int, Any] = {}
    failures: list[ShardFailure] = []
    attempts = dict.fromkeys((s.index for s in shards), 0)
    started, done = time.perf_counter(), 0
    with ray_session(workers, address) as slots:
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        cap = (slots or max(1, int(cpus))) + 1
        queue = list(shards)
        pending: dict[Any, Shard] = {}
        while queue or pending:
            while queue and len(pending) < cap:
                shard = queue.pop(0)
                attempts[shard.index] += 1
                pending[remote.remote(*arguments(shard))] = shard
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready[0])
            try:
                results[shard.index] = ray.get(ready[0])
            except Exception as exc:  # a task error, or Ray's: the worker or node died
                cause = getattr(exc, "cause", None) or exc
                error = f"{type(cause).__name__}: {cause}"
                if isinstance(cause, KilnError) or attempts[shard.index] > retries:
                    log.warning("%s: %s failed: %s", what, shard, error)
                    failures.append(ShardFailure(shard, attempts[shard.index], error))
                else:
                    log.warning("%s: %s failed (%s); sending it again", what, shard, error)
                    queue.insert(0, shard)
                continue
            done += shard.size
            log.info("%s: %d/%d %s (%d/%d shards, %.1f s)", what, done, total, unit,
                     len(results), len(shards), time.perf_counter() - started)
    return ShardRun(results, tuple(sorted(failures, key=lambda f: f.shard.index)))


def artifact_paths(folder: str | Path) -> tuple[str, str | None]:
    """Where workers look for an artifact: its absolute path, and its path relative to this
    process's working directory when it lies inside it (a worker started with Ray's
    ``runtime_env={"working_dir": ...}`` has a copy of that directory as its own)."""
    absolute = Path(folder).resolve()
    try:
        return str(absolute), str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute), None


# Runtimes a worker process has loaded, by artifact path: shards after the first on the same
# worker skip the manifest's hash check. Keyed by kiln.json's mtime, so a recompiled artifact
# is loaded afresh.
_LOADED: dict[tuple[str, int], Runtime] = {}


def locate(paths: tuple[str, str | None]) -> str:
    """The first of ``paths`` (from :func:`artifact_paths`) where this worker finds the
    artifact.

    Raises:
        ArtifactError: this worker can read the artifact at neither path.
    """
    absolute, relative = paths
    for path in (absolute, relative):
        if path is not None and (Path(path) / "kiln.json").is_file():
            return path
    raise ArtifactError(
        f"This Ray worker ({platform.node()}) cannot read the artifact at {absolute}"
        + (f" nor at {relative} under its working directory {Path.cwd()}" if relative else "")
        + ". Every worker needs the artifact: put it on a filesystem every node mounts at the "
        "same path, or start Ray with runtime_env={'working_dir': DIR} where DIR holds the "
        "artifact and is the working directory you run kiln from")


def load_cached(paths: tuple[str, str | None]) -> Runtime:
    """The artifact at ``paths`` (:func:`locate`) as a Runtime, loaded once per worker
    process."""
    from kiln.runtime._runtime import load

    path = locate(paths)
    key = (str(Path(path).resolve()), os.stat(Path(path) / "kiln.json").st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = load(path)
    return _LOADED[key]


def _predict_shard(paths: tuple[str, str | None], samples: NDArray[Any], device: str,
                   raw: bool, start: int) -> NDArray[Any]:
    """One shard of :func:`predict_sharded`, on a worker."""
    return load_cached(paths)._predict_here(samples, device, raw, start)


def predict_sharded(runtime: Runtime, samples: NDArray[Any], device: str, raw: bool,
                    workers: int | None, address: str | None,
                    shards: int | None = None) -> NDArray[Any]:
    """:meth:`Runtime.predict` of ``samples`` (checked, channels-last) in contiguous shards
    over Ray workers, each loading the artifact from its path and running ``device``; the
    outputs merged in input order.

    Raises:
        ShardError: a shard failed on every attempt (its range and error are named).
    """
    n = len(samples)
    per_sample = samples.itemsize * max(1, int(np.prod(samples.shape[1:])))
    count = shards or shard_count(n, workers or 1, per_sample)
    plan = split(n, count)
    paths = artifact_paths(runtime.artifact.path)
    log.info("predict %s: %d samples in %d shards on %s", runtime.graph.name, n, len(plan),
             address or f"a local Ray with {workers} workers")
    run = run_shards(_predict_shard, plan,
                     lambda s: (paths, samples[s.start:s.stop], device, raw, s.start),
                     workers=workers, address=address, what=f"predict {runtime.graph.name}")
    parts = run.ordered(f"predict {runtime.graph.name}", len(plan))
    out = np.empty((n, *parts[0].shape[1:]), dtype=parts[0].dtype)
    for shard, part in zip(plan, parts, strict=True):
        if len(part) != shard.size:   # a worker must answer every sample it was sent
            raise ShardError(f"predict {runtime.graph.name}", [ShardFailure(
                shard, 1, f"returned {len(part)} outputs for {shard.size} samples")], len(plan))
        out[shard.start:shard.stop] = part
    return out
