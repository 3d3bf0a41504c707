"""The dynamic batcher: many threads, every caller gets exactly its own rows."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import kiln
from kiln.errors import InputShapeError, KilnError


def test_threads_get_their_own_results(digits_artifact, digits_data) -> None:  # type: ignore[no-untyped-def]
    rt = kiln.load(digits_artifact.path)
    x = digits_data[1]
    expected = rt.predict(x, device="cpu", raw=True)
    sizes = [1, 7, 3, 50, 1, 12, 90, 2] * 3
    starts = np.cumsum([0, *sizes])[:-1] % (len(x) - 100)
    results: dict[int, np.ndarray] = {}
    with rt.serve(device="cpu", raw=True, max_batch=64, max_wait_ms=5) as server:
        def call(i: int) -> None:
            results[i] = server.predict(x[starts[i]:starts[i] + sizes[i]])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(sizes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.batches < len(sizes)  # requests were gathered into shared batches
        with pytest.raises(InputShapeError):
            server.submit(np.zeros((2, 3)))
    for i, size in enumerate(sizes):
        assert np.array_equal(results[i], expected[starts[i]:starts[i] + size])
    with pytest.raises(KilnError, match="closed"):
        server.submit(x[:1])
