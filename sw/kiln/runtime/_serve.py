"""A dynamic batcher: requests from many threads are gathered into device-sized batches."""

from __future__ import annotations

import logging
import math
import queue
import threading
from concurrent.futures import Future, InvalidStateError
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
    waits for it. Each caller gets exactly its own rows back, in order. A caller may cancel its
    Future while it waits in the queue; the others are served as before. Every request
    :meth:`submit` accepted is answered, with its rows or with the error that stopped it,
    also when :meth:`close` comes first.

    Raises:
        KilnError: ``max_batch`` is not a positive integer, ``max_wait_ms`` not a finite
            number of milliseconds >= 0, or ``device`` unknown.
    """

    def __init__(self, runtime: Runtime, device: str, raw: bool, max_batch: int,
                 max_wait_ms: float) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise KilnError(f"serve(max_batch={max_batch!r}): give a whole number of samples, "
                            "at least 1")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, int | float) \
                or not 0 <= max_wait_ms < math.inf:
            raise KilnError(f"serve(max_wait_ms={max_wait_ms!r}): give a finite number of "
                            "milliseconds, 0 or more")
        self._runtime, self._raw = runtime, bool(raw)
        self._device = runtime.resolve(device)
        self._max_batch, self._max_wait_s = max_batch, max_wait_ms / 1000.0
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._lock = threading.Lock()   # orders submit() against close(): none slips past
        self._closed = False
        self.batches = 0
        self._thread = threading.Thread(target=self._loop, name="kiln-serve", daemon=True)
        self._thread.start()

    def submit(self, x: Any) -> Future[NDArray[Any]]:
        """Queue ``x`` (one sample or a batch); its Future gets the outputs.

        Raises:
            InputShapeError: ``x`` does not fit the model (checked here, in the caller).
            KilnError: the server is closed.
        """
        array = np.asarray(x)
        if array.shape == tuple(self._runtime.graph.input.shape):
            array = array[None]
        self._runtime.input_codes(array)  # refuse bad input in the caller's thread
        future: Future[NDArray[Any]] = Future()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                raise KilnError("This server is closed; start another with Runtime.serve()")
            self._queue.put(_Request(array, future))
        return future

    def predict(self, x: Any, timeout: float | None = 60.0) -> NDArray[Any]:
        """The outputs for ``x``, waiting at most ``timeout`` seconds (TimeoutError after)."""
        return self.submit(x).result(timeout=timeout)

    def _gather(self, first: _Request) -> list[_Request]:
        batch, rows = [first], len(first.x)
        while rows < self._max_batch:
            try:
                item = self._queue.get(timeout=self._max_wait_s) if self._max_wait_s > 0 \
                    else self._queue.get_nowait()
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
            # a cancelled request is dropped here; the rest can no longer be cancelled
            batch = [r for r in self._gather(first) if r.future.set_running_or_notify_cancel()]
            if batch:
                self._serve(batch)

    def _serve(self, batch: list[_Request]) -> None:
        """Answer every request of ``batch``: its rows, or the error that stopped them all."""
        try:
            out = self._runtime.predict(np.concatenate([r.x for r in batch]),
                                        device=self._device, raw=self._raw)
        except BaseException as exc:  # every waiting caller learns of it; the thread lives on
            for r in batch:
                _answer(r.future, exc)
            return
        self.batches += 1
        start = 0
        for r in batch:
            _answer(r.future, out[start:start + len(r.x)])
            start += len(r.x)

    def close(self) -> None:
        """Stop taking requests, answer those already queued, and end the batcher thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        while True:   # only if the batcher died: nobody may wait forever
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.future.set_running_or_notify_cancel():
                _answer(item.future, KilnError("The server closed before this request ran"))

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answer(future: Future[NDArray[Any]], outcome: NDArray[Any] | BaseException) -> None:
    """Complete ``future`` with its rows or its error; one already completed stays as it is."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        log.debug("serve: a request was completed twice; the second answer is dropped")
