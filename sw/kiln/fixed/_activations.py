"""hls4ml's table activations (Vivado backend, io_parallel) on integer codes, batched on torch.

Each function follows ``nnet_utils/nnet_activation.h`` of hls4ml 1.3.0 operation by
operation, with every ap_fixed cast done by :func:`kiln.fixed.requantize`, so the codes equal
the HLS C simulation's. The tables themselves come from :mod:`kiln.fixed._tables`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kiln.errors import PrecisionError
from kiln.fixed._quantize import requantize, trunc_div, wrap
from kiln.ir import LUT_IN_RANGE, FixedType, Lut, Softmax, ceillog2

__all__ = ["lut_codes", "lut_step", "reduce_tree", "softmax_codes", "softmax_step",
           "table_index"]

#: One layer prepared for a device: input codes in, output codes out.
Step = Callable[[torch.Tensor], torch.Tensor]


def _wrap_int32(a: torch.Tensor) -> torch.Tensor:
    return wrap(a, -(1 << 31), 32)


def lut_codes(x: torch.Tensor, in_type: FixedType, node: Lut) -> torch.Tensor:
    """``nnet::sigmoid`` / ``nnet::tanh``: codes of ``node.out_type``, same shape as ``x``.

    The same as ``lut_step(node, in_type, x.device)(x)``.
    """
    return lut_step(node, in_type, x.device)(x)


def lut_step(node: Lut, in_type: FixedType, device: torch.device | str) -> Step:
    """``node`` prepared for ``device``: its table placed there and its checks done once;
    the step maps input codes (any shape) to codes of ``node.out_type``.

    With T entries and the table spanning [-R, R) (R = 8 for sigmoid, 4 for tanh)::

        data_round = int(x * T / (2R))   // ap_fixed product, ap_fixed division by the int
                                         // 2R (truncating at the product's LSB), then
                                         // int(): toward zero
        index = data_round + R * T / (2R), clamped to [0, T - 1]
        res = (res_T) table[index]
    """
    size = int(node.table.shape[0])
    r = LUT_IN_RANGE.get(node.function)
    if r is None or r != node.in_range:
        raise PrecisionError(
            f"Lut {node.name!r}: function {node.function!r} with in_range {node.in_range} is "
            f"not an hls4ml table activation ({LUT_IN_RANGE})"
        )
    # ap_fixed divides the product's code, so a type without fractional bits (frac < 0)
    # truncates at its own LSB, 2**-frac: the quotient's code is shifted up after dividing.
    up = max(-in_type.frac, 0)
    if in_type.width + size.bit_length() + up > 62:
        raise PrecisionError(
            f"Lut {node.name!r}: input type {in_type} is too wide for a {size}-entry table "
            "in kiln's int64 arithmetic"
        )
    denominator = 2 * r << max(in_type.frac, 0)
    offset = (r * size) // (2 * r)
    table = torch.tensor(node.table, device=device)

    def step(x: torch.Tensor) -> torch.Tensor:
        numerator = x * size
        if denominator >= 1 << 62:  # |numerator| < 2**62: every quotient truncates to 0
            data_round = torch.zeros_like(x)
        else:
            data_round = _wrap_int32(trunc_div(numerator, denominator) << up)
        index = _wrap_int32(data_round + offset).clamp(0, size - 1)
        return requantize(table[index], node.table_type.frac, node.out_type)

    return step


def _address_bits(t: FixedType, table_size: int) -> int:
    n = ceillog2(table_size)
    if n > t.width:
        raise PrecisionError(
            f"A {table_size}-entry softmax table needs {n} address bits, more than type {t} has"
        )
    return n


def table_index(codes: torch.Tensor, t: FixedType, table_size: int) -> torch.Tensor:
    """``softmax_idx_from_real_val``: the top ``ceillog2(table_size)`` bits of each code's
    ``t.width``-bit pattern, as an unsigned index."""
    return wrap(codes, 0, t.width) >> (t.width - _address_bits(t, table_size))


def reduce_tree(x: torch.Tensor, op: str, t: FixedType) -> torch.Tensor:
    """``nnet::reduce<T, N, Op>`` over the last axis, casting every node's result to ``t``.

    The tree splits N inputs into the first ``2**floorlog2(N - 1)`` and the rest, so with a
    saturating ``t`` the grouping (not only the set of inputs) decides the result.
    """
    n = x.shape[-1]
    if n == 1:
        return x[..., 0]
    if n & (n - 1) == 0:  # a power of two is a perfect binary tree: reduce level by level
        while x.shape[-1] > 1:
            pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
            x = _op(pairs[..., 0], pairs[..., 1], op, t)
        return x[..., 0]
    left = 1 << ((n - 1).bit_length() - 1)  # pow2(floorlog2(N - 1))
    return _op(reduce_tree(x[..., :left], op, t), reduce_tree(x[..., left:], op, t), op, t)


def _op(a: torch.Tensor, b: torch.Tensor, op: str, t: FixedType) -> torch.Tensor:
    if op == "add":  # Op_add<T>: T operator()(T a, T b) { return a + b; }
        return requantize(a + b, t.frac, t)
    if op == "max":  # Op_max<T>: a >= b ? a : b
        return torch.maximum(a, b)
    raise AssertionError(op)


def softmax_codes(x: torch.Tensor, in_type: FixedType, node: Softmax) -> torch.Tensor:
    """``nnet::softmax_stable`` / ``nnet::softmax_latency`` over the last axis of ``x``.

    stable::

        x_max = reduce<data_T, max>(x)
        d = (inp_norm_t)(x_max - x)             // TRN/WRAP by default: large gaps wrap
        e = (accum_t) exp_table[top bits of d]  // exp_table[i] = exp(-value(i))
        s = (inv_inp_t) reduce<accum_t, add>(e) // accum_t's overflow at every tree node
        res = (res_T)(e * inv_table[top bits of s])

    latency is the same with ``e = (accum_t) exp_table[top bits of x]`` (no max, and
    exp_table[i] = exp(value(i)) over ``data_T``). The same as
    ``softmax_step(node, in_type, x.device)(x)``.
    """
    return softmax_step(node, in_type, x.device)(x)


def softmax_step(node: Softmax, in_type: FixedType, device: torch.device | str) -> Step:
    """``node`` prepared for ``device`` (tables placed there, checks done once); the step
    runs :func:`softmax_codes` on codes of ``in_type``."""
    for what, table in (("exp", node.exp_table), ("inverse", node.inv_table)):
        size = int(table.shape[0])
        if size & (size - 1):
            raise PrecisionError(
                f"Softmax {node.name!r}: {what} table of {size} entries; hls4ml addresses "
                "softmax tables by top bits, so their size must be a power of two"
            )
    if node.implementation not in ("stable", "latency"):
        raise PrecisionError(
            f"Softmax {node.name!r}: implementation {node.implementation!r} is not supported; "
            "kiln implements 'stable' and 'latency'"
        )
    acc_t, inv_inp_t = node.accum_type, node.inv_inp_type
    if acc_t.width + node.inv_table_type.width > 63:
        raise PrecisionError(
            f"Softmax {node.name!r}: accum {acc_t} times inverse table {node.inv_table_type} "
            "is wider than kiln's int64 arithmetic"
        )
    exp_table = torch.tensor(node.exp_table, device=device)
    inv_table = torch.tensor(node.inv_table, device=device)
    exp_size, inv_size = int(node.exp_table.shape[0]), int(node.inv_table.shape[0])
    _address_bits(inv_inp_t, inv_size)
    _address_bits(node.inp_norm_type if node.implementation == "stable" else in_type, exp_size)

    def step(x: torch.Tensor) -> torch.Tensor:
        if node.implementation == "stable":
            x_max = x.amax(dim=-1, keepdim=True)
            d = requantize(x_max - x, in_type.frac, node.inp_norm_type)
            address = table_index(d, node.inp_norm_type, exp_size)
        else:
            address = table_index(x, in_type, exp_size)
        e = requantize(exp_table[address], node.exp_table_type.frac, acc_t)
        total = reduce_tree(e, "add", acc_t)
        s = requantize(total, acc_t.frac, inv_inp_t)
        inv = inv_table[table_index(s, inv_inp_t, inv_size)]
        product = e * inv.unsqueeze(-1)
        return requantize(product, acc_t.frac + node.inv_table_type.frac, node.out_type)

    return step
