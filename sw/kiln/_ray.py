"""kiln's one way onto Ray: a local Ray started for one call, or a cluster by address, or the
Ray the caller already initialised. kiln.explore, sharded verification and sharded
prediction all enter Ray here. Ray is imported only when this is entered."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: Local Ray workers (CPUs) when none are given.
DEFAULT_WORKERS = 2

#: Object store of a local Ray: trials and shards pass bounded pieces of data only.
OBJECT_STORE_BYTES = 256 * 1024 * 1024


@contextmanager
def ray_session(workers: int | None, address: str | None) -> Iterator[int | None]:
    """Ray for the duration of the ``with`` block; yields how many tasks may run at once.

    With no ``address`` and no Ray initialised yet, a local Ray with ``workers`` CPUs
    (default :data:`DEFAULT_WORKERS`) is started, without a dashboard, and stopped at the end;
    the slots are its CPUs. With an ``address`` (``ray://HOST:10001``, or ``auto``) kiln
    connects to that cluster and disconnects at the end. A Ray the caller initialised is
    used as it is and left running. On a cluster (or a caller's Ray) the slots are
    ``workers``, or None: as many as Ray schedules.
    """
    import ray

    own = not ray.is_initialized()
    if own and address is None:
        slots: int | None = workers or DEFAULT_WORKERS
        ray.init(num_cpus=slots, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, object_store_memory=OBJECT_STORE_BYTES)
    else:
        if own:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        slots = workers
    try:
        yield slots
    finally:
        if own:
            ray.shutdown()
