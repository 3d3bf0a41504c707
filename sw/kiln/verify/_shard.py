"""Verification on Ray: one artifact's RTL bulk check cut into contiguous shards whose counts
are merged, and many artifacts fanned out one per worker (kiln.runtime._shard runs them)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from kiln.errors import KilnError
from kiln.runtime import Runtime
from kiln.runtime._shard import (
    Shard,
    ShardFailure,
    artifact_paths,
    load_cached,
    locate,
    run_shards,
    shard_count,
    split,
    use_ray,
)
from kiln.verify._verify import BulkTally, VerificationReport, bulk_compare, verify

log = logging.getLogger(__name__)


def _bulk_shard(paths: tuple[str, str | None], codes: NDArray[Any], labels: NDArray[Any] | None,
                first: int) -> BulkTally:
    """One shard of :func:`bulk_sharded`, on a worker."""
    return bulk_compare(load_cached(paths), codes, labels, first)


def bulk_sharded(runtime: Runtime, codes: NDArray[Any], labels: NDArray[Any] | None,
                 workers: int | None, address: str | None) -> BulkTally:
    """:func:`kiln.verify._verify.bulk_compare` of ``codes`` in contiguous shards on Ray
    workers, merged: every sample counted, mismatches summed, the worst distance kept and
    the first mismatch numbered in the whole input.

    Raises:
        kiln.runtime.ShardError: a shard failed on every attempt (named with its range).
    """
    # Build the Verilated design here once, so workers that share the artifact's folder find
    # it built instead of each building it, and a missing tool is reported once.
    runtime.device("fpga-sim").run(codes[:1])
    plan = split(len(codes), shard_count(len(codes), workers or 1,
                                         codes.itemsize * codes.shape[1]))
    paths = artifact_paths(runtime.artifact.path)
    what = f"verify {runtime.graph.name}"
    run = run_shards(_bulk_shard, plan, lambda s: (
        paths, codes[s.start:s.stop], None if labels is None else labels[s.start:s.stop],
        s.start), workers=workers, address=address, what=what)
    parts: list[BulkTally] = run.ordered(what, len(plan))
    return BulkTally.merge(parts, runtime.graph.output.out_type.lsb)


def _verify_one(paths: tuple[str, str | None], options: dict[str, Any]
                ) -> VerificationReport:
    """One artifact of :func:`verify_each`, on a worker."""
    return verify(locate(paths), **options)


def verify_each(artifact_dirs: Sequence[str | Path], *, workers: int | None = None,
                address: str | None = None, **options: Any
                ) -> list[VerificationReport | ShardFailure]:
    """:func:`kiln.verify.verify` on every artifact, one artifact per Ray worker when
    ``workers`` > 1 or an ``address`` is given (else one after another here), in the order
    given. An artifact whose verification raises is returned as a ShardFailure naming it and
    the error, not dropped; the others still run.

    Args:
        artifact_dirs: artifact folders every worker can read (a shared filesystem, or the
            same paths on every node).
        **options: verify's options (``x``, ``labels``, ``samples``, ``seed``, ``protocol``).

    Raises:
        KilnError: a folder is given twice (two runs would write its sim/ and reports/).
    """
    paths = [artifact_paths(d) for d in artifact_dirs]
    absolute = [p[0] for p in paths]
    twice = sorted({p for p in absolute if absolute.count(p) > 1})
    if twice:   # two verifications of one folder would write its sim/ and reports/ at once
        raise KilnError(f"verify: artifact(s) {', '.join(twice)} given twice; give each once")
    plan = [Shard(i, i, i + 1, f"artifact {d}") for i, d in enumerate(artifact_dirs)]
    if not use_ray("verify", workers, address):
        out: list[VerificationReport | ShardFailure] = []
        for shard, folder in zip(plan, artifact_dirs, strict=True):
            try:
                out.append(verify(folder, **options))
            except KilnError as exc:
                log.warning("verify: %s failed: %s", shard, exc)
                out.append(ShardFailure(shard, 1, f"{type(exc).__name__}: {exc}"))
        return out
    run = run_shards(_verify_one, plan, lambda s: (paths[s.index], options), workers=workers,
                     address=address, what="verify", unit="artifacts")
    failed = {f.shard.index: f for f in run.failures}
    return [failed[s.index] if s.index in failed else run.results[s.index] for s in plan]
