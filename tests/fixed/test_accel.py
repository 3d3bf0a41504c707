"""kiln.fixed's ways to run on a GPU, as far as a machine without one can check them: the
CUDA-graph runner's bookkeeping (one graph per shape, least recently used dropped first,
inputs copied in, outputs copied out) with the capture replaced by a stand-in."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from kiln.fixed._accel import CudaGraphs


class _Replay:
    """Stands in for a captured CUDA graph: replay recomputes into the static output."""

    def __init__(self, fn: Any, static_in: torch.Tensor, static_out: torch.Tensor) -> None:
        self.fn, self.static_in, self.static_out = fn, static_in, static_out

    def replay(self) -> None:
        self.static_out.copy_(self.fn(self.static_in))


def test_graphs_per_shape_with_copies_in_and_out(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[tuple[int, ...]] = []

    def capture(self: CudaGraphs, x: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        captured.append(tuple(x.shape))
        static_in = x.clone()
        static_out = self._fn(static_in)
        return _Replay(self._fn, static_in, static_out), static_in, static_out

    monkeypatch.setattr(CudaGraphs, "_capture", capture)
    runner = CudaGraphs(lambda x: x * 3 + 1, torch.device("cpu"), capacity=2)
    a, b, c = (torch.arange(n, dtype=torch.int64).reshape(n, 1) for n in (4, 5, 6))
    first = runner(a)
    assert torch.equal(first, a * 3 + 1)
    first += 100  # the caller's copy: the next replay's output is not this tensor
    assert torch.equal(runner(a + 1), (a + 1) * 3 + 1)
    assert torch.equal(runner(b), b * 3 + 1)
    assert torch.equal(runner(c), c * 3 + 1)  # capacity 2: the graph for shape (4, 1) goes
    assert torch.equal(runner(b), b * 3 + 1)
    assert torch.equal(runner(a), a * 3 + 1)
    assert captured == [(4, 1), (5, 1), (6, 1), (4, 1)]
