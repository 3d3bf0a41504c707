"""A dynamic batcher: requests from many threads are gathered into device-sized batches."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import KilnError

if TYPE_CHECKING:
    from kiln.runtime._runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class _Request:
    x: NDArray[Any]
    future: Future[NDArray[Any]]


class Server:
    """Serves ``Runtime.predict`` to several threads, batching what arrives together.

    Use as a context manager, or call :meth:`close`. ``submit`` returns a Future; ``predict``
    waits for it. Each caller gets exactly its own rows back, in order.
    """

    def __init__(self, runtime: Runtime, device: str, raw: bool, max_batch: int,
                 max_wait_s: float) -> None:
        if max_batch < 1:
            raise KilnError(f"max_batch must be at least 1, not {max_batch}")
        self._runtime, self._raw = runtime, raw
        self._device = runtime.resolve(device)
        self._max_batch, self._max_wait_s = max_batch, max_wait_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self.batches = 0
        self._thread = threading.Thread(target=self._loop, name="kiln-serve", daemon=True)
        self._thread.start()

    def submit(self, x: Any) -> Future[NDArray[Any]]:
        if self._closed:
            raise KilnError("This server is closed; start another with Runtime.serve()")
        array = np.asarray(x)
        if array.shape == tuple(self._runtime.graph.input.shape):
            array = array[None]
        self._runtime.input_codes(array)  # refuse bad input in the caller's thread
        future: Future[NDArray[Any]] = Future()
        self._queue.put(_Request(array, future))
        return future

    def predict(self, x: Any, timeout: float | None = 60.0) -> NDArray[Any]:
        return self.submit(x).result(timeout=timeout)

    def _gather(self, first: _Request) -> list[_Request]:
        batch, rows = [first], len(first.x)
        while rows < self._max_batch:
            try:
                item = self._queue.get(timeout=self._max_wait_s)
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
            rows += len(item.x)
        return batch

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._gather(first)
            try:
                out = self._runtime.predict(np.concatenate([r.x for r in batch]),
                                            device=self._device, raw=self._raw)
            except Exception as exc:  # every waiting caller learns of the failure
                for r in batch:
                    r.future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for r in batch:
                r.future.set_result(out[start:start + len(r.x)])
                start += len(r.x)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
