"""One Verilog module per layer: ``emit_<kind>`` builds it from an IR node.

Every layer module has the ports ``clk``, ``ce`` (the pipeline-wide clock enable), ``x``
(the input elements packed little-endian) and ``y`` (the output elements), and a fixed
latency in cycles of ``ce``. Valid bits live in the top module.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.ir import Cast, Dense, FixedType, Node, Relu
from kiln.rtl._adder_graph import AdderGraph
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
from kiln.rtl._cse import Term, columns_of, extract_common, naf, tree_depth
from kiln.rtl._requantize import Value, is_wiring, requantize, requantize_const


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


def _skeleton(name: str, node: Node, in_type: FixedType, n_in: int,
              then: Node | None = None) -> tuple[Module, _Ports]:
    """The module of ``node`` (and of ``then``, an elementwise layer built into it)."""
    last = then or node
    fused = f" and {then.name!r} ({then.kind})" if then else ""
    comment = (
        f"kiln.rtl: layer {node.name!r} ({node.kind}){fused}, {n_in} x {in_type} -> "
        f"{last.size} x {last.out_type}.\nGenerated; do not edit."
    )
    m = Module(name, comment)
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", n_in * in_type.width)
    y = m.output("y", last.size * last.out_type.width)
    return m, _Ports(clk, ce.expr, x, y)


def _element(x: Signal, index: int, t: FixedType) -> Ref:
    return x.ref().sub(index * t.width, t.width, t.signed)


def _drive_outputs(m: Module, y: Signal, elements: list[Expr]) -> None:
    m.assign(y, concat(*reversed(elements)))


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


def _cast_products(m: Module, p: _Ports, g: AdderGraph, node: Dense,
                   in_type: FixedType) -> list[list[Term]]:
    """Where the accumulator drops fractional bits of a product, each product is cast on
    its own (as hls4ml does): every distinct product is built once, cast, and registered,
    and each output sums its cast products."""
    acc_t = node.accum_type
    frac = in_type.frac + node.weight_type.frac
    made: dict[tuple[int, int], int] = {}
    columns: list[list[Term]] = []
    for j in range(node.n_out):
        column = []
        for i in range(node.n_in):
            w = int(node.weight[i, j])
            if w == 0:
                continue
            if (i, w) not in made:
                width = _product_width(in_type, w)
                x = _element(p.x, i, in_type).cast(width, True)
                product = m.wire(f"p_{i}_{len(made)}", _shift_add(x, w))
                lo, hi = _product_range(in_type, w)
                cast = requantize(m, Value(product.ref(), frac, lo, hi), acc_t, f"c_{len(made)}")
                reg = m.register(f"c_{len(made)}", cast, p.clk, p.ce)
                clo, chi = (requantize_const(lo, frac, acc_t), requantize_const(hi, frac, acc_t))
                if acc_t.overflow == "WRAP" and not (
                        acc_t.min_code <= clo <= chi <= acc_t.max_code):
                    clo, chi = acc_t.min_code, acc_t.max_code
                made[i, w] = g.input(reg.ref(), clo, chi, depth=g.levels, stage=1)
            column.append(Term(made[i, w], 0, 1))
        columns.append(column)
    return columns


def emit_dense(node: Dense, in_type: FixedType, name: str, relu: Relu | None = None
               ) -> LayerRtl:
    """hls4ml dense_latency: products cast to the accumulator, summed with the cast bias
    (wrapping), the sum cast to the output type; zero weights build nothing.

    Where the accumulator keeps every fractional bit of a product (QKeras and Brevitas
    models, hls4ml's own typing of float models), that is one integer matrix product in
    the product grid, wrapping where the accumulator does: each output is a sum of the
    inputs' shifted, signed non-adjacent-form digits, kiln.rtl._cse shares the common pairs
    across outputs, and kiln.rtl._adder_graph builds it (range-sized adders, registers
    every ``node.adder_levels`` adder levels). Else each distinct product is cast on its own
    and registered first. The output cast counts as one more level unless it is only
    wiring; every output is registered, then delayed to the slowest one's latency.

    With ``relu``, the ReLU that follows the layer is built into it: ``relu``'s cast of
    ``max(y, 0)`` is one more level (unless only wiring), and the register holds its
    narrower result: a cycle and the wide output's registers fewer than two stages.
    """
    m, p = _skeleton(name, node, in_type, node.n_in, relu)
    out = _Output(node.out_type, relu.out_type if relu else None)
    acc_t = node.accum_type
    shift = acc_t.frac - (in_type.frac + node.weight_type.frac)
    exact = 0 <= shift < acc_t.width
    modulus = acc_t.width - shift if exact else acc_t.width
    g = AdderGraph(m, p.clk, p.ce, modulus, node.adder_levels)
    if exact:
        for i in range(node.n_in):
            g.input(_element(p.x, i, in_type), in_type.min_code, in_type.max_code)
        columns = columns_of(node.weight.tolist())
    else:
        shift = 0
        columns = _cast_products(m, p, g, node, in_type)
    biases = [requantize_const(int(b), node.bias_type.frac, acc_t) for b in node.bias]
    for column, bias in zip(columns, biases, strict=True):
        if bias >> shift:  # the bias's bits in the product grid: a term like the others
            column.append(Term(g.constant(bias >> shift), 0, 1))
    found = extract_common(columns, [v.depth for v in g.vars], _max_depth(g, columns, acc_t, out))
    g.extend(found.adds)
    finished: list[tuple[Expr, int] | Expr] = []
    for j, column in enumerate(found.columns):
        bias = biases[j]
        root = g.sum_column(column)
        constant = None if root is None else g.vars[root.var].value
        if root is None or constant is not None:
            total = bias if constant is None or root is None else (
                (root.sign * constant << root.shift + shift) + bias % (1 << shift))
            acc = requantize_const(total, acc_t.frac, acc_t)
            finished.append(out.constant(requantize_const(acc, acc_t.frac, node.out_type)))
            continue
        finished.append(_finish(m, g, g.positive(root), bias % (1 << shift), shift, acc_t,
                                out, f"y_{j}"))
    latency = max([f[1] for f in finished if isinstance(f, tuple)] + [1])
    outputs = []
    for j, f in enumerate(finished):
        if not isinstance(f, tuple):
            outputs.append(f)
            continue
        y, ready = f
        for k in range(ready, latency):
            y = m.register(f"y_{j}_d{k}", y, p.clk, p.ce).expr
        outputs.append(y)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, latency)


def _max_depth(g: AdderGraph, columns: list[list[Term]], acc_t: FixedType, out: _Output) -> int:
    """The adder depth every output may reach: the deepest output's without sharing,
    rounded up to the end of its last pipeline stage."""
    weights = [sum(1 << g.vars[t.var].depth for t in c) for c in columns]
    cast = out.levels(acc_t.frac, *code_range(acc_t.width, acc_t.signed), acc_t.signed)
    levels = tree_depth(max(weights, default=0)) + cast
    return -(-levels // g.levels) * g.levels - cast


@dataclass(frozen=True)
class _Output:
    """A Dense output's cast: to the layer's type, then (``relu``) a fused ReLU's."""

    dense: FixedType
    relu: FixedType | None

    @property
    def type(self) -> FixedType:
        return self.relu or self.dense

    def levels(self, frac: int, lo: int, hi: int, signed: bool) -> int:
        """Levels of logic (0 to 2) casting accumulator codes ``lo``..``hi`` out."""
        levels = int(not is_wiring(frac, lo, hi, signed, self.dense))
        if self.relu is not None:
            levels += not is_wiring(self.dense.frac, 0, self.dense.max_code, False, self.relu)
        return levels

    def constant(self, code: int) -> Expr:
        """The output of a constant Dense result ``code``."""
        if self.relu is not None:
            code = requantize_const(max(code, 0), self.dense.frac, self.relu)
        return const(code, self.type.width, self.type.signed)

    def cast(self, m: Module, acc: Value, name: str) -> Expr:
        if self.relu is not None and self.dense.overflow != "WRAP":
            # A saturating cast never makes a negative code positive and keeps 0, so the
            # ReLU may come first: the cast then has no lower bound to test.
            clamped = _clamp_negative(m, acc, f"{name}_pos")
            if clamped is None:
                return self.constant(0)
            cast = m.wire(f"{name}_y", requantize(m, clamped, self.dense, name)).ref()
            return requantize(m, Value(cast, self.dense.frac, 0, self.dense.max_code),
                              self.relu, f"{name}_q")
        y = requantize(m, acc, self.dense, name)
        if self.relu is None:
            return y
        positive = _relu(m, m.wire(f"{name}_y", y).ref(), self.dense.frac, f"{name}_pos")
        if positive is None:
            return self.constant(0)
        return requantize(m, positive, self.relu, f"{name}_q")


def _clamp_negative(m: Module, v: Value, name: str) -> Value | None:
    """``max(v, 0)`` keeping ``v``'s upper bound; None when it is always 0."""
    if v.lo >= 0:
        return v
    if v.hi <= 0:
        return None
    ref = v.ref
    zero = const(0, ref.width - 1, False)
    clamped = m.wire(name, mux(ref.msb, zero, ref.bits(0, ref.width - 1)))
    return Value(clamped.ref(), v.frac, 0, v.hi)


def _finish(m: Module, g: AdderGraph, root: Term, low_bits: int, shift: int,
            acc_t: FixedType, out: _Output, name: str) -> tuple[Expr, int]:
    """An output's accumulator from its sum (``root``, in the product grid) and the bias bits
    below the grid, cast out and registered. Returns the register and the cycles after
    which it holds the output."""
    v = g.vars[root.var]
    zeros = root.shift + shift
    lo, hi = (v.lo << zeros) + low_bits, (v.hi << zeros) + low_bits
    # A sum as wide as the modulus may have wrapped: then only its low bits are known, and
    # the accumulator holds them as it would (its full range).
    wrapped = v.width >= g.modulus or not acc_t.min_code <= lo <= hi <= acc_t.max_code
    signed = acc_t.signed if wrapped else v.signed
    if wrapped:
        lo, hi = code_range(acc_t.width, acc_t.signed)
    levels = v.depth + out.levels(acc_t.frac, lo, hi, signed)
    stage = max(v.stage, g.stage_of(levels))
    ref = g.read(root.var, stage).ref
    assert ref is not None
    parts = [ref.raw] + [const(0, zeros - shift, False)] * (zeros > shift)
    parts += [const(low_bits, shift, False)] * (shift > 0)
    total = concat(*parts) if len(parts) > 1 else ref.raw
    bits = m.wire(f"{name}_sum", total.as_signed() if v.signed else total).ref()
    acc = m.wire(f"{name}_acc", bits.cast(acc_t.width if wrapped else bits.width, signed))
    cast = out.cast(m, Value(acc.ref(), acc_t.frac, lo, hi), name)
    return m.register(name, cast, g.clk, g.ce).expr, stage + 1


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
