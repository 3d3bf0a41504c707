"""One Verilog module per layer: ``emit_<kind>`` builds it from an IR node.

Every layer module has the ports ``clk``, ``ce`` (the pipeline-wide clock enable), ``x``
(the input elements packed little-endian) and ``y`` (the output elements), and a fixed
latency in cycles of ``ce``. Valid bits live in the top module.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.ir import Cast, Dense, FixedType, Node, Relu
from kiln.rtl._builder import (
    Expr,
    Module,
    Ref,
    Signal,
    code_range,
    concat,
    const,
    mux,
    width_for,
)
from kiln.rtl._requantize import Value, is_wiring, requantize, requantize_const

# Adder-tree levels between pipeline registers; an output cast with logic counts as one more.
# Two levels of accumulator-width adds per cycle leave margin at ~200 MHz on 7-series.
ADDER_LEVELS_PER_STAGE = 2


@dataclass(frozen=True)
class LayerRtl:
    """A layer's module and its latency in clock-enabled cycles."""

    module: Module
    latency: int


@dataclass(frozen=True)
class _Ports:
    clk: Signal
    ce: Expr
    x: Signal
    y: Signal


def _skeleton(name: str, node: Node, in_type: FixedType, n_in: int) -> tuple[Module, _Ports]:
    comment = (
        f"kiln.rtl: layer {node.name!r} ({node.kind}), {n_in} x {in_type} -> "
        f"{node.size} x {node.out_type}.\nGenerated; do not edit."
    )
    m = Module(name, comment)
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", n_in * in_type.width)
    y = m.output("y", node.size * node.out_type.width)
    return m, _Ports(clk, ce.expr, x, y)


def _element(x: Signal, index: int, t: FixedType) -> Ref:
    return x.ref().sub(index * t.width, t.width, t.signed)


def _drive_outputs(m: Module, y: Signal, elements: list[Expr]) -> None:
    m.assign(y, concat(*reversed(elements)))


def naf(w: int) -> list[tuple[int, int]]:
    """``w`` in non-adjacent form: (sign, shift) digits, ``w = sum(sign << shift)``; at most
    one digit in two bits is non-zero."""
    digits, shift = [], 0
    while w:
        if w & 1:
            digit = 2 - (w & 3)
            digits.append((digit, shift))
            w -= digit
        w >>= 1
        shift += 1
    return digits


def _shift_add(x: Expr, w: int) -> Expr:
    """``x * w`` as shifts, adds and subtracts of ``x`` at ``x``'s width (wrapping), so
    every synthesis tool builds adders, never a multiplier."""
    digits = sorted(naf(w), key=lambda d: -d[1])
    plus = [k for sign, k in digits if sign > 0]
    minus = [k for sign, k in digits if sign < 0]
    out = x.shl(plus[0]) if plus else -x.shl(minus.pop(0))
    for k in plus[1:]:
        out = out + x.shl(k)
    for k in minus:
        out = out - x.shl(k)
    return out


def _product_range(t: FixedType, w: int) -> tuple[int, int]:
    lo, hi = t.min_code, t.max_code
    plo, phi = sorted((lo * w, hi * w))
    return plo, phi


def _product_width(t: FixedType, w: int) -> int:
    """Signed bits that hold ``x * w`` for every code ``x`` of ``t``, and ``x`` itself."""
    return max(width_for(*_product_range(t, w), True), t.width + (not t.signed))


def _products(m: Module, p: _Ports, node: Dense, in_type: FixedType) -> list[list[Expr]]:
    """Each output's registered products, already cast to the accumulator type.

    A product is registered at its own width when its cast is only wiring, else cast to the
    accumulator and registered at the accumulator width."""
    acc_t = node.accum_type
    frac = in_type.frac + node.weight_type.frac
    extended = {}
    for i in range(node.n_in):
        widths = [_product_width(in_type, int(w)) for w in node.weight[i] if w != 0]
        if widths:
            element = _element(p.x, i, in_type)
            extended[i] = m.wire(f"x_{i}", element.cast(max(widths), True)).ref()
    terms: list[list[Expr]] = []
    for j in range(node.n_out):
        column = []
        for i in range(node.n_in):
            w = int(node.weight[i, j])
            if w == 0:
                continue
            lo, hi = _product_range(in_type, w)
            x = extended[i].sub(0, _product_width(in_type, w), True).expr
            if is_wiring(frac, lo, hi, True, acc_t):
                product = m.register(f"p_{i}_{j}", _shift_add(x, w), p.clk, p.ce)
                value = Value(product.ref(), frac, lo, hi)
                column.append(requantize(m, value, acc_t, f"c_{i}_{j}"))
            else:
                product = m.wire(f"p_{i}_{j}", _shift_add(x, w))
                cast = requantize(m, Value(product.ref(), frac, lo, hi), acc_t, f"c_{i}_{j}")
                column.append(m.register(f"c_{i}_{j}", cast, p.clk, p.ce).expr)
        terms.append(column)
    return terms


def _add(a: Expr, b: Expr) -> Expr:
    if a.value is not None and b.value is not None:
        total = (a.value + b.value) % (1 << a.width)
        if a.signed and total >= 1 << (a.width - 1):
            total -= 1 << a.width
        return const(total, a.width, a.signed)
    return a + b


def _pairwise(terms: list[Expr]) -> list[Expr]:
    out = [_add(terms[k], terms[k + 1]) for k in range(0, len(terms) - 1, 2)]
    return out + terms[-1:] if len(terms) % 2 else out


def _as_ref(m: Module, e: Expr, name: str) -> Ref:
    sig = m.signals.get(e.text)
    if sig is not None and (sig.width, sig.signed) == (e.width, e.signed):
        return sig.ref()
    return m.wire(name, e).ref()


def _tree_depth(counts: list[int]) -> int:
    return max((max(c - 1, 0).bit_length() for c in counts), default=0)


def _adder_tree(m: Module, p: _Ports, terms: list[list[Expr]],
                zero: Expr) -> tuple[list[Expr], int]:
    """Sum each output's terms at accumulator width (wrapping) in a balanced tree of the same
    depth for every output, registering after every ADDER_LEVELS_PER_STAGE levels.

    Returns each output's sum and the tree depth in adder levels."""
    depth = _tree_depth([len(t) for t in terms])
    for level in range(1, depth + 1):
        terms = [_pairwise(t) if len(t) > 1 else t for t in terms]
        if level % ADDER_LEVELS_PER_STAGE == 0:
            terms = [
                [e if e.value is not None else m.register(f"s{level}_{j}_{k}", e, p.clk, p.ce).expr
                 for k, e in enumerate(t)]
                for j, t in enumerate(terms)
            ]
    return [t[0] if t else zero for t in terms], depth


def emit_dense(node: Dense, in_type: FixedType, name: str) -> LayerRtl:
    """hls4ml dense_latency: products cast to the accumulator, summed with the cast bias
    (wrapping), the sum cast to the output type. Constant products are shifts and adds of
    the weight's non-adjacent form; zero weights build nothing.

    Pipeline: products (and their casts) registered; the adder tree registered every
    ADDER_LEVELS_PER_STAGE levels; the output cast counts as one more level unless it is
    only wiring, and the last level is registered. With ``depth`` adder levels the latency
    is ``1 + ceil(levels / ADDER_LEVELS_PER_STAGE)``, ``levels = depth (+ 1 for the cast)``,
    and the tree is as deep for every output.
    """
    m, p = _skeleton(name, node, in_type, node.n_in)
    acc_t = node.accum_type
    terms = _products(m, p, node, in_type)
    for j, column in enumerate(terms):
        bias = requantize_const(int(node.bias[j]), node.bias_type.frac, acc_t)
        if bias != 0:
            column.append(const(bias, acc_t.width, acc_t.signed))
    sums, depth = _adder_tree(m, p, terms, const(0, acc_t.width, acc_t.signed))
    lo, hi = code_range(acc_t.width, acc_t.signed)
    wiring = is_wiring(acc_t.frac, lo, hi, acc_t.signed, node.out_type)
    # The tree registered its last level unless depth is off the stage grid; a cast that
    # is only wiring can then read that register, anything else is registered after it.
    register = not wiring or depth % ADDER_LEVELS_PER_STAGE != 0
    outputs = []
    for j, total in enumerate(sums):
        if total.value is not None:
            code = requantize_const(total.value, acc_t.frac, node.out_type)
            outputs.append(const(code, node.out_type.width, node.out_type.signed))
            continue
        acc = Value.of(_as_ref(m, total, f"acc_{j}"), acc_t.frac)
        cast = requantize(m, acc, node.out_type, f"y_{j}")
        outputs.append(m.register(f"y_{j}", cast, p.clk, p.ce).expr if register else cast)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, 1 + depth // ADDER_LEVELS_PER_STAGE + register)


def _relu(m: Module, xi: Ref, frac: int, name: str) -> Value | None:
    """``x > 0 ? x : 0`` as an unsigned code; None when it is always zero."""
    if not xi.signed:
        return Value.of(xi, frac)
    if xi.width == 1:
        return None
    zero = const(0, xi.width - 1, False)
    r = m.wire(name, mux(xi.msb, zero, xi.bits(0, xi.width - 1)))
    return Value.of(r.ref(), frac)


def _emit_elementwise(node: Node, in_type: FixedType, name: str, relu: bool) -> LayerRtl:
    m, p = _skeleton(name, node, in_type, node.size)
    t = node.out_type
    outputs = []
    for i in range(node.size):
        xi = _element(p.x, i, in_type)
        v = _relu(m, xi, in_type.frac, f"r_{i}") if relu else Value.of(xi, in_type.frac)
        if v is None:
            outputs.append(const(requantize_const(0, in_type.frac, t), t.width, t.signed))
            continue
        outputs.append(m.register(f"y_{i}", requantize(m, v, t, f"y_{i}"), p.clk, p.ce).expr)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, 1)


def emit_relu(node: Relu, in_type: FixedType, name: str) -> LayerRtl:
    """``y = cast_out(x > 0 ? x : 0)``, registered: latency 1."""
    return _emit_elementwise(node, in_type, name, relu=True)


def emit_cast(node: Cast, in_type: FixedType, name: str) -> LayerRtl:
    """``y = cast_out(x)``, registered: latency 1."""
    return _emit_elementwise(node, in_type, name, relu=False)
