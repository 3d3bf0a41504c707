"""The IR checker: run after lowering and after every pass; a broken invariant is a bug or
an input kiln must refuse, never something to build hardware from."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import KilnError, PrecisionError
from kiln.ir._nodes import (
    POOL_OPS,
    SIGN_TYPE,
    Conv,
    Dense,
    Elu,
    Graph,
    Input,
    LeakyRelu,
    Lut,
    Node,
    Pad,
    Pool,
    SignThreshold,
    Softmax,
    is_valid_reuse_factor,
    spatial,
    valid_reuse_factors,
)
from kiln.ir._types import FixedType


def _in_range(name: str, what: str, codes: NDArray[Any], t: FixedType) -> None:
    lo, hi = t.min_code, t.max_code
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise PrecisionError(
            f"Layer {name!r}: {what} codes [{codes.min()}, {codes.max()}] exceed type {t}"
        )


def _check_accumulator(name: str, accum_type: FixedType) -> None:
    if accum_type.overflow != "WRAP":
        raise PrecisionError(
            f"Layer {name!r}: accumulator {accum_type} saturates; kiln builds "
            "wrapping accumulators only. Give the layer an accum precision with WRAP overflow "
            "(hls4ml's default)."
        )


def _check_weighted(node: Dense | Conv) -> None:
    _in_range(node.name, "weight", node.weight, node.weight_type)
    _in_range(node.name, "bias", node.bias, node.bias_type)
    _check_accumulator(node.name, node.accum_type)


def _check_adder_levels(node: Dense | Conv) -> None:
    levels = node.adder_levels
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise KilnError(f"{type(node).__name__} {node.name!r}: adder_levels must be a whole "
                        f"number of adder levels per pipeline stage, 1 or more, not {levels!r}")


def _check_lut_multipliers(node: Dense | Conv) -> None:
    if not isinstance(node.lut_multipliers, bool):
        raise KilnError(f"{type(node).__name__} {node.name!r}: lut_multipliers must be True or "
                        f"False, not {node.lut_multipliers!r}")


def _check_depthwise(node: Conv, channels: int) -> None:
    if not isinstance(node.depthwise, bool):
        raise KilnError(f"Conv {node.name!r}: depthwise must be True or False, not "
                        f"{node.depthwise!r}")
    if not node.depthwise:
        return
    n_in, n_out = node.weight.shape
    off_diagonal = np.arange(n_in)[:, None] % channels != np.arange(n_out)[None, :]
    if n_out != channels or np.any(np.asarray(node.weight)[off_diagonal]):
        raise KilnError(f"Conv {node.name!r}: marked depthwise, but output channel c reads "
                        "other input channels than c (or the channel counts differ)")


def _check_reuse_factor(node: Dense | Conv) -> None:
    r = node.reuse_factor
    n_in, n_out = node.fold_shape
    if isinstance(r, bool) or not isinstance(r, int) or not is_valid_reuse_factor(n_in, n_out, r):
        valid = valid_reuse_factors(n_in, n_out)
        near = sorted(sorted(valid, key=lambda v: (abs(v - r), v) if isinstance(r, int)
                             else (v, v))[:6])
        raise KilnError(
            f"{type(node).__name__} {node.name!r} ({n_in} inputs, {n_out} outputs): reuse "
            f"factor {r!r} does not fold it (it must divide {n_in}, or be a multiple of "
            f"{n_in} that divides {n_in * n_out}, as in hls4ml). Valid choices near it: "
            f"{', '.join(map(str, near))}")


def _check_window(node: Conv | Pool, previous: Node) -> None:
    """The output shape must be what sliding ``kernel`` by ``stride`` over the input gives."""
    rows, cols, channels = spatial(previous.shape)
    (kr, kc), (sr, sc) = node.kernel, node.stride
    out_rows, out_cols, out_channels = spatial(node.shape)
    expected = ((rows - kr) // sr + 1, (cols - kc) // sc + 1)
    if min(kr, kc, sr, sc) < 1 or kr > rows or kc > cols or (out_rows, out_cols) != expected:
        raise KilnError(
            f"{node.kind} {node.name!r}: kernel {node.kernel} stride {node.stride} over "
            f"{previous.shape} gives {expected}, not {node.shape}"
        )
    if isinstance(node, Conv):
        if node.weight.shape != (kr * kc * channels, out_channels) or \
                node.bias.shape != (out_channels,):
            raise KilnError(
                f"Conv {node.name!r}: weight {node.weight.shape} / bias {node.bias.shape} do "
                f"not fit a {kr}x{kc} window of {channels} channels and {out_channels} outputs"
            )
        _check_weighted(node)
        _check_depthwise(node, channels)
        _check_reuse_factor(node)
        _check_adder_levels(node)
        _check_lut_multipliers(node)
    elif out_channels != channels:
        raise KilnError(f"Pool {node.name!r}: {channels} channels in, {out_channels} out")
    elif node.op not in POOL_OPS:
        raise KilnError(f"Pool {node.name!r}: op {node.op!r} is not one of {POOL_OPS}")
    elif node.op == "average":
        _check_accumulator(node.name, node.accum_type)


def _check_pad(node: Pad, previous: Node) -> None:
    rows, cols, channels = spatial(previous.shape)
    top, bottom, left, right = node.pads
    expected = (rows + top + bottom, cols + left + right, channels)
    if min(node.pads) < 0 or spatial(node.shape) != expected:
        raise KilnError(f"Pad {node.name!r}: pads {node.pads} around {previous.shape} give "
                        f"{expected}, not {node.shape}")


def _check_leaky_relu(node: LeakyRelu) -> None:
    lengths = sorted({1, spatial(node.shape)[2], node.size})
    if node.alpha.ndim != 1 or len(node.alpha) not in lengths:
        raise KilnError(f"LeakyRelu {node.name!r}: alpha of shape {node.alpha.shape}; it must "
                        f"hold {' or '.join(map(str, lengths))} codes (one, one per channel, "
                        "or one per element)")
    _in_range(node.name, "alpha", node.alpha, node.alpha_type)
    _in_range(node.name, "threshold", np.array([node.threshold]), node.threshold_type)


def _check_elu(node: Elu, in_type: FixedType) -> None:
    if node.table.ndim != 1 or len(node.table) < 1:
        raise KilnError(f"Elu {node.name!r}: its table must be a non-empty vector of codes, "
                        f"not of shape {node.table.shape}")
    _in_range(node.name, "table", node.table, node.table_type)
    _in_range(node.name, "alpha", np.array([node.alpha]), node.alpha_type)
    down, up = Elu.index_shifts(in_type)
    if (-in_type.min_code * len(node.table) >> down) << up >= 1 << 31:
        raise PrecisionError(
            f"Elu {node.name!r}: input type {in_type} reaches x * T / -8 beyond the C int "
            f"hls4ml stores the table index in (T = {len(node.table)}; it would overflow). Fix: "
            "give the ELU's input a type with fewer integer bits")


def _check_sign_threshold(node: SignThreshold, in_type: FixedType) -> None:
    lengths = sorted({1, spatial(node.shape)[2], node.size})
    for label, codes in (("upper", node.upper), ("lower", node.lower)):
        if codes.ndim != 1 or len(codes) not in lengths:
            raise KilnError(f"SignThreshold {node.name!r}: {label} of shape {codes.shape}; it "
                            f"must hold {' or '.join(map(str, lengths))} codes")
        if codes.size and (codes.min() < in_type.min_code or codes.max() > in_type.max_code):
            raise PrecisionError(
                f"SignThreshold {node.name!r}: {label} thresholds [{codes.min()}, "
                f"{codes.max()}] lie outside its input type {in_type}, which holds them in "
                "hls4ml's C++. Fix: clamp a threshold above the type to its largest code (the "
                "comparison is constant there), or widen the input type")
    if len(node.upper) != len(node.lower) or np.any(node.lower > node.upper):
        raise KilnError(f"SignThreshold {node.name!r}: lower thresholds must pair with the "
                        "upper ones and lie at or below them")
    if node.out_type != SIGN_TYPE:
        raise KilnError(f"SignThreshold {node.name!r}: its result is {SIGN_TYPE}, not "
                        f"{node.out_type}")


def check_graph(graph: Graph) -> Graph:
    """Raise :class:`KilnError` if ``graph`` breaks an IR invariant; return it otherwise."""
    if not graph.nodes or not isinstance(graph.nodes[0], Input):
        raise KilnError(f"Graph {graph.name!r} must start with an Input node")
    names = set()
    previous = None
    for node in graph.nodes:
        if node.name in names:
            raise KilnError(f"Graph {graph.name!r}: duplicate node name {node.name!r}")
        names.add(node.name)
        if previous is not None:
            if node.source != previous.name:
                raise KilnError(
                    f"Node {node.name!r} reads {node.source!r}, not the node before it "
                    f"({previous.name!r}); kiln's IR is a chain"
                )
            size_in = previous.size
            if isinstance(node, Dense):
                if node.weight.shape != (size_in, node.size) or node.bias.shape != (node.size,):
                    raise KilnError(
                        f"Dense {node.name!r}: weight {node.weight.shape} / bias "
                        f"{node.bias.shape} do not fit {size_in} inputs and {node.size} outputs"
                    )
                _check_weighted(node)
                _check_reuse_factor(node)
                _check_adder_levels(node)
                _check_lut_multipliers(node)
            elif isinstance(node, Conv | Pool):
                _check_window(node, previous)
            elif isinstance(node, Pad):
                _check_pad(node, previous)
            elif node.size != size_in:
                raise KilnError(f"Node {node.name!r}: {node.size} outputs from {size_in} inputs")
            if isinstance(node, LeakyRelu):
                _check_leaky_relu(node)
            if isinstance(node, Elu):
                _check_elu(node, previous.out_type)
            if isinstance(node, SignThreshold):
                _check_sign_threshold(node, previous.out_type)
            if isinstance(node, Lut):
                _in_range(node.name, "table", node.table, node.table_type)
            if isinstance(node, Softmax):
                _in_range(node.name, "exp table", node.exp_table, node.exp_table_type)
                _in_range(node.name, "inverse table", node.inv_table, node.inv_table_type)
        previous = node
    return graph
