"""Runtime.serve() under faults: a cancelled Future does not kill the batcher, every request
accepted before close() is answered, and bad arguments are refused. Every wait here has a
timeout, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.errors import KilnError
from kiln.runtime._serve import Server

WAIT = 20.0


class _Runtime:
    """A Runtime stand-in whose predict doubles its input and can be held at a gate."""

    class graph:  # noqa: N801 - mimics Runtime.graph
        class input:  # noqa: N801
            shape = [2]

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.fail: BaseException | None = None

    def resolve(self, device: str) -> str:
        return device

    def input_codes(self, x: Any) -> Any:
        return np.asarray(x)

    def predict(self, x: Any, device: str, raw: bool) -> Any:
        self.started.set()
        assert self.gate.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        return np.asarray(x) * 2


def test_a_cancelled_future_does_not_stop_the_others() -> None:
    rt = _Runtime()
    rt.gate.clear()
    server = Server(rt, "cpu", raw=True, max_batch=1, max_wait_ms=0)  # type: ignore[arg-type]
    try:
        busy = server.submit(np.ones((1, 2)))         # holds the batcher at the gate
        assert rt.started.wait(WAIT)
        doomed = server.submit(np.ones((1, 2)))
        assert doomed.cancel()
        later = server.submit(np.full((1, 2), 3.0))
        rt.gate.set()
        assert np.array_equal(busy.result(WAIT), [[2, 2]])
        assert np.array_equal(later.result(WAIT), [[6, 6]])
        with pytest.raises(CancelledError):
            doomed.result(0)
        assert np.array_equal(server.predict(np.ones((1, 2)), timeout=WAIT), [[2, 2]])
    finally:
        rt.gate.set()
        server.close()


def test_every_request_accepted_before_close_is_answered() -> None:
    rt = _Runtime()
    rt.gate.clear()
    server = Server(rt, "cpu", raw=True, max_batch=4, max_wait_ms=1)  # type: ignore[arg-type]
    futures = [server.submit(np.full((1, 2), float(i))) for i in range(10)]
    closer = threading.Thread(target=server.close)
    closer.start()
    rt.gate.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    for i, f in enumerate(futures):
        assert np.array_equal(f.result(WAIT), [[2 * i, 2 * i]])
    with pytest.raises(KilnError, match="closed"):
        server.submit(np.ones((1, 2)))


def test_a_failing_batch_answers_its_callers_and_the_server_goes_on() -> None:
    rt = _Runtime()
    rt.fail = KilnError("device broke")
    with Server(rt, "cpu", raw=True, max_batch=8, max_wait_ms=0) as server:  # type: ignore[arg-type]
        with pytest.raises(KilnError, match="device broke"):
            server.predict(np.ones((1, 2)), timeout=WAIT)
        rt.fail = None
        assert np.array_equal(server.predict(np.ones((1, 2)), timeout=WAIT), [[2, 2]])


def test_submits_racing_close_are_answered_or_refused() -> None:
    rt = _Runtime()
    server = Server(rt, "cpu", raw=True, max_batch=4, max_wait_ms=0)  # type: ignore[arg-type]
    accepted: list[Any] = []
    refused = 0

    def client() -> None:
        nonlocal refused
        for _ in range(200):
            try:
                accepted.append(server.submit(np.ones((1, 2))))
            except KilnError:
                refused += 1

    clients = [threading.Thread(target=client) for _ in range(4)]
    for c in clients:
        c.start()
    server.close()
    for c in clients:
        c.join(WAIT)
    for f in accepted:
        assert np.array_equal(f.result(WAIT), [[2, 2]])
    assert len(accepted) + refused == 800


@pytest.mark.parametrize("kwargs, message", [
    ({"max_wait_ms": -1}, "max_wait_ms=-1"),
    ({"max_wait_ms": float("nan")}, "max_wait_ms=nan"),
    ({"max_batch": 0}, "max_batch=0"),
    ({"max_batch": 2.5}, "max_batch=2.5"),
])
def test_bad_arguments_are_refused(tiny_artifact: Any, kwargs: dict[str, Any],
                                   message: str) -> None:
    with pytest.raises(KilnError, match=rf"serve\({message}\)"):
        kiln.load(tiny_artifact.path).serve(device="cpu", **kwargs)
