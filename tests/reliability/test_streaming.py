"""predict streams a large input through the device a slice at a time: each slice is
quantized, run and converted on its own, so memory holds the input, the result and one
slice's work, and the answer is the same as in one piece."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.runtime import _runtime


def test_large_inputs_go_through_in_slices(tiny_artifact: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rt = kiln.load(tiny_artifact.path)
    x = np.random.default_rng(0).uniform(-2, 2, size=(5000, 16)).astype(np.float32)
    whole = rt.predict(x, device="cpu", raw=True)
    cpu = rt.device("cpu")
    sizes: list[int] = []
    run = cpu.run
    monkeypatch.setattr(cpu, "run", lambda codes: sizes.append(len(codes)) or run(codes))
    monkeypatch.setattr(_runtime, "STREAM_BYTES", 128 * 16 * 8)   # 128 samples a slice
    assert np.array_equal(rt.predict(x, device="cpu", raw=True), whole)
    assert max(sizes) == 128 and sum(sizes) == 5000


def test_peak_memory_is_a_small_multiple_of_the_input(tiny_artifact: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rt = kiln.load(tiny_artifact.path)
    x = np.random.default_rng(1).uniform(-2, 2, size=(200_000, 16)).astype(np.float32)
    monkeypatch.setattr(_runtime, "STREAM_BYTES", 1 << 20)
    rt.predict(x[:10], device="cpu")                          # warm up
    tracemalloc.start()
    try:
        y = rt.predict(x, device="cpu")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the float64 result is half the input's size here; the slices add about a MiB or two
    assert peak < y.nbytes + 4 * (1 << 20) + x.nbytes // 2, peak
