"""Faster ways to run a prepared kiln.fixed program on a CUDA device, all giving the same
codes as eager execution.

- ``graphs``: the program's kernels are captured once per batch shape into a CUDA graph and
  replayed, so a call costs one launch instead of one per operation (what pays at small
  batches, where launches dominate).
- ``compile``: ``torch.compile`` fuses the elementwise casts between the matrix products
  into a few kernels (what pays at large batches, where every unfused cast reads and writes
  the whole activation tensor). Integer operations are exact in any fusion, and the float64
  matrix products are exact in any summation order (see ``_executor``), so fusion cannot
  change a code.
- ``compile+graphs``: both.

None is used unless asked for: on the CPU kiln.fixed runs eagerly unless a caller passes
``accel`` itself, and on CUDA ``$KILN_FIXED_ACCEL`` (default ``eager``) chooses.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, cast

import torch

from kiln.errors import DeviceError

Accel = Literal["eager", "graphs", "compile", "compile+graphs"]
ACCELS: tuple[Accel, ...] = ("eager", "graphs", "compile", "compile+graphs")
ACCEL_ENV = "KILN_FIXED_ACCEL"
Step = Callable[[torch.Tensor], torch.Tensor]


def choose_accel(accel: str | None, device: torch.device) -> Accel:
    """The mode to run with on ``device``: ``accel`` when given, else ``$KILN_FIXED_ACCEL`` on
    a CUDA device and ``eager`` elsewhere.

    Raises:
        DeviceError: the mode is unknown, or uses CUDA graphs off a CUDA device.
    """
    where = "accel="
    if accel is None:
        if device.type != "cuda":
            return "eager"
        accel, where = os.environ.get(ACCEL_ENV, "eager"), f"${ACCEL_ENV}="
    if accel not in ACCELS:
        raise DeviceError(
            f"kiln.fixed: {where}{accel!r} is not a way to run; choose one of "
            f"{', '.join(ACCELS)}"
        )
    if accel.endswith("graphs") and device.type != "cuda":
        raise DeviceError(
            f"kiln.fixed: {where}{accel!r} replays CUDA graphs, but the codes are on {device}; "
            "use 'eager' or 'compile' there, or move the codes to a CUDA device"
        )
    return cast(Accel, accel)


def accelerate(fn: Step, accel: Accel, device: torch.device) -> Step:
    """``fn`` (int64 codes (batch, n) to output codes, on ``device``) run the ``accel`` way."""
    if accel.startswith("compile"):
        fn = cast(Step, torch.compile(fn, dynamic=None))
    if accel.endswith("graphs"):
        return CudaGraphs(fn, device)
    return fn


class CudaGraphs:
    """Runs ``fn`` by replaying a CUDA graph captured for each input shape.

    A shape's first call warms ``fn`` up on a side stream (so lazy initialisation, cuBLAS
    workspaces and compilation happen outside the capture), captures one call into a graph
    with its own input buffer, and replays it; every later call copies its input into that
    buffer, replays, and returns a copy of the output. At most ``capacity`` shapes are kept
    (the least recently used graph and its memory are released first).
    """

    def __init__(self, fn: Step, device: torch.device, capacity: int = 8) -> None:
        self._fn = fn
        self._device = device
        self._capacity = capacity
        self._graphs: OrderedDict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor,
                                                        torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor,
                                                 torch.Tensor]:
        static_in = x.clone()
        side = torch.cuda.Stream(device=self._device)  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self._fn(static_in)
        torch.cuda.current_stream(self._device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._fn(static_in)
        return graph, static_in, static_out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        with self._lock:
            entry = self._graphs.pop(key, None)
            if entry is None:
                entry = self._capture(x)
                while len(self._graphs) >= self._capacity:
                    self._graphs.popitem(last=False)
            self._graphs[key] = entry
            graph, static_in, static_out = entry
            static_in.copy_(x)
            graph.replay()
            return static_out.clone()
