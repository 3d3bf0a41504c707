"""hls4ml's leaky_relu / prelu / thresholded_relu (:class:`LeakyRelu`) and elu (:class:`Elu`)
on integer codes, batched on torch.

Each follows ``nnet_utils/nnet_activation.h`` of hls4ml 1.3.0 (io_parallel; the io_stream
versions compute the same per element): the comparison exactly as the C++ writes it, the
products exact (ap_fixed's product type), one cast to the result type by
:func:`kiln.fixed.requantize`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kiln.errors import PrecisionError
from kiln.fixed._quantize import requantize
from kiln.ir import Elu, FixedType, LeakyRelu, SignThreshold

__all__ = ["elu_step", "leaky_relu_step", "sign_threshold_step"]

Step = Callable[[torch.Tensor], torch.Tensor]


def leaky_relu_step(node: LeakyRelu, in_type: FixedType, device: torch.device | str) -> Step:
    """``node`` prepared for ``device``: input codes (batch, size) to output codes.

    ::

        res = x > threshold ? (res_T) x : (res_T)(alpha[i] * x)

    Both branches are exact values at the finer of the two binary points, so one cast.
    """
    product_frac = in_type.frac + node.alpha_type.frac
    frac = max(in_type.frac, product_frac)
    x_peak = max(-in_type.min_code, in_type.max_code)
    alpha_peak = int(np.abs(node.alpha).max())
    if max(x_peak * alpha_peak << (frac - product_frac), x_peak << (frac - in_type.frac)
           ) >= 1 << 62:
        raise PrecisionError(
            f"LeakyRelu {node.name!r}: input {in_type} times its slopes (codes up to "
            f"{alpha_peak} of {node.alpha_type}) is wider than kiln's int64 arithmetic; give "
            "the input or the slope a narrower type")
    # element i reads alpha[i % len(alpha)]
    alpha = torch.tensor(node.alpha, device=device).repeat(node.size // len(node.alpha))
    threshold = node.threshold_code(in_type)

    def step(x: torch.Tensor) -> torch.Tensor:
        product = x * alpha << (frac - product_frac)
        passed = x << (frac - in_type.frac)
        return requantize(torch.where(x > threshold, passed, product), frac, node.out_type)

    return step


def elu_step(node: Elu, in_type: FixedType, device: torch.device | str) -> Step:
    """``node`` prepared for ``device``: input codes (any shape) to output codes.

    ::

        if (x >= 0) res = (res_T) x;
        else {
            index = x * T / -8;            // exact, then int(): toward zero
            if (index > T - 1) index = T - 1;
            res = (res_T)(alpha * table[index]);
        }
    """
    size = len(node.table)
    down, up = node.index_shifts(in_type)
    peak = -in_type.min_code * size
    if peak >= 1 << 62 or (peak >> down) << up >= 1 << 31:
        raise PrecisionError(
            f"Elu {node.name!r}: input type {in_type} is too wide for a {size}-entry table: "
            "x * T / -8 does not fit the C int hls4ml stores the index in (nor kiln's int64 "
            "arithmetic). Give the ELU's input a narrower type.")
    if abs(node.alpha) * int(np.abs(node.table).max()) >= 1 << 62:
        raise PrecisionError(
            f"Elu {node.name!r}: alpha {node.alpha} ({node.alpha_type}) times its table "
            f"({node.table_type}) is wider than kiln's int64 arithmetic; give alpha or the "
            "table a narrower type")
    negative = requantize(torch.tensor(node.table, device=device) * node.alpha,
                          node.alpha_type.frac + node.table_type.frac, node.out_type)

    def step(x: torch.Tensor) -> torch.Tensor:
        index = (((-x.clamp(max=0) * size) >> down) << up).clamp(max=size - 1)
        return torch.where(x >= 0, requantize(x, in_type.frac, node.out_type), negative[index])

    return step


def sign_threshold_step(node: SignThreshold, device: torch.device | str) -> Step:
    """``node`` prepared for ``device``: input codes (batch, size) to -1, 0 or +1 (hls4ml's
    normalize_ternary_tanh: ``x > hi ? 1 : x <= lo ? -1 : 0``)."""
    repeat = node.size // len(node.upper)
    upper = torch.tensor(node.upper, device=device).repeat(repeat)
    lower = torch.tensor(node.lower, device=device).repeat(repeat)

    def step(x: torch.Tensor) -> torch.Tensor:
        return (x > upper).long() - (x <= lower).long()

    return step
