"""Table activations in gates: hls4ml's sigmoid / tanh (:class:`Lut`) and softmax.

Both follow kiln.fixed (``lut_codes``, ``softmax_codes``) operation by operation, so their
codes equal hls4ml's C simulation. Tables are registered ROMs (``case`` statements) holding
the codes the next operation reads: a Lut's table already cast to the output type, the
softmax exp table already cast to the accumulator type (hls4ml assigns each entry to accum_t
before anything else reads it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

from kiln.errors import UnsupportedLayerError
from kiln.ir import (
    DEFAULT_ADDER_LEVELS,
    SOFTMAX_IMPLEMENTATIONS,
    FixedType,
    Lut,
    Softmax,
    ceillog2,
)
from kiln.rtl._builder import Expr, Module, concat, const, mux, width_for
from kiln.rtl._layers import (
    LayerRtl,
    _drive_outputs,
    _element,
    _Ports,
    _shift_add,
    _skeleton,
)
from kiln.rtl._requantize import (
    Value,
    is_wiring,
    requantize,
    requantize_const,
    requantize_consts,
)

# Comparator or saturating-adder levels of a reduce tree between pipeline registers.
TREE_LEVELS_PER_STAGE = DEFAULT_ADDER_LEVELS
INT32 = FixedType(32, 32)  # C's int, which hls4ml's Lut index arithmetic wraps in

TreeOp = Callable[[Module, Value, Value, str], Value]


def _cast_table(codes: NDArray[Any], frac: int, t: FixedType) -> list[int]:
    return requantize_consts(codes, frac, t)


def _register(m: Module, p: _Ports, v: Value, name: str) -> Value:
    q = m.register(name, v.ref.expr, p.clk, p.ce)
    return Value(q.ref(), v.frac, v.lo, v.hi)


def _delay(m: Module, p: _Ports, v: Value, cycles: int, name: str) -> Value:
    for k in range(cycles):
        v = _register(m, p, v, f"{name}_d{k}")
    return v


def _rom(m: Module, p: _Ports, address: Expr, codes: list[int], t: FixedType, frac: int,
         name: str) -> Value:
    q = m.rom(name, address, codes, t.width, t.signed, p.clk, p.ce)
    return Value(q.ref(), frac, min(codes), max(codes))


def _wrap(m: Module, v: Value, t: FixedType, name: str) -> Value:
    """``v`` in ``t`` (an integer type of the same scale) with WRAP, as C's int conversion."""
    if t.min_code <= v.lo and v.hi <= t.max_code:
        return v
    wrapped = m.wire(name, requantize(m, v, t, name))
    return Value(wrapped.ref(), v.frac, t.min_code, t.max_code)


# ---- reduce trees ------------------------------------------------------------------------


def _reduce(m: Module, p: _Ports, items: list[Value], op: TreeOp, name: str) -> tuple[Value, int]:
    """``nnet::reduce<T, N, Op>``, pipelined: the first ``2**floorlog2(N - 1)`` items in one
    subtree and the rest in the other, as hls4ml splits them (with a saturating type the
    grouping decides the result). A register follows every TREE_LEVELS_PER_STAGE levels and
    the root; a subtree that is ready earlier waits in registers.

    Returns the root and the tree's latency in cycles.
    """

    def build(first: int, n: int) -> tuple[Value, int, int]:  # value, registers, levels
        if n == 1:
            return items[first], 0, 0
        left_n = 1 << ((n - 1).bit_length() - 1)
        a, b = build(first, left_n), build(first + left_n, n - left_n)
        stage = max(a[1], b[1])
        sides = [_delay(m, p, v, stage - s, f"{name}_{first}_{n}_{side}") if s < stage else v
                 for side, (v, s, _) in zip("ab", (a, b), strict=True)]
        levels = 1 + max(lv for _, s, lv in (a, b) if s == stage)
        out = op(m, sides[0], sides[1], f"{name}_{first}_{n}")
        if levels == TREE_LEVELS_PER_STAGE:
            return _register(m, p, out, f"{name}_{first}_{n}_q"), stage + 1, 0
        return out, stage, levels

    root, stages, levels = build(0, len(items))
    if levels:
        root, stages = _register(m, p, root, f"{name}_q"), stages + 1
    return root, stages


def _max(m: Module, a: Value, b: Value, name: str) -> Value:
    """``Op_max``: ``a >= b ? a : b``."""
    x, y = a.ref.expr, b.ref.expr
    out = m.wire(name, mux(x.lt(y), y, x))
    return Value(out.ref(), a.frac, min(a.lo, b.lo), max(a.hi, b.hi))


def _adder(t: FixedType) -> TreeOp:
    """``Op_add<t>``: ``t(a + b)``, with t's overflow mode at every node."""

    def add(m: Module, a: Value, b: Value, name: str) -> Value:
        lo, hi = a.lo + b.lo, a.hi + b.hi
        width = width_for(lo, hi, t.signed)
        total = m.wire(f"{name}_sum", a.ref.cast(width, t.signed) + b.ref.cast(width, t.signed))
        out = m.wire(name, requantize(m, Value(total.ref(), t.frac, lo, hi), t, name))
        if t.overflow in ("SAT", "SAT_SYM") or (t.min_code <= lo and hi <= t.max_code):
            # the cast is monotonic here: the extremes map to the extremes
            return Value(out.ref(), t.frac, requantize_const(lo, t.frac, t),
                         requantize_const(hi, t.frac, t))
        return Value.of(out.ref(), t.frac)

    return add


# ---- lookups -----------------------------------------------------------------------------


def _top_bits_lookup(m: Module, p: _Ports, v: Value, computed: bool, address_t: FixedType,
                     codes: list[int], t: FixedType, name: str) -> tuple[Value, int]:
    """``table[softmax_idx_from_real_val<address_t>(v)]``: ``v`` cast to ``address_t``, its
    top ``ceillog2(len(codes))`` bits address a registered ROM of codes of ``t``.

    The address is registered first when ``v`` is computed (not a register or port) or the
    cast has logic. Returns the ROM output and the latency in cycles.
    """
    bits = ceillog2(len(codes))
    cast = m.wire(f"{name}_n", requantize(m, v, address_t, f"{name}_n"))
    address = cast.ref().bits(address_t.width - bits, bits)
    latency = 1
    if computed or not is_wiring(v.frac, v.lo, v.hi, v.ref.signed, address_t):
        address = m.register(f"{name}_a", address, p.clk, p.ce).expr
        latency += 1
    return _rom(m, p, address, codes, t, t.frac, name), latency


def _trunc_shift(n: int, k: int) -> int:
    """``n / 2**k`` rounded toward zero, as C's integer division."""
    return -(-n >> k) if n < 0 else n >> k


def _lut_index(m: Module, x: Value, in_type: FixedType, size: int, in_range: int,
               name: str) -> Expr:
    """The table index ``lut_codes`` computes: ``trunc(x * T / 2R) + T / 2`` (C int
    arithmetic, wrapping at 32 bits), clamped to ``[0, T - 1]``; ``(T - 1).bit_length()``
    unsigned bits. ``x * T / 2R`` is ``code * T / 2**k`` with ``2R << frac`` a power of
    two, so the division is a shift that rounds toward zero; a type with ``frac < 0``
    divides its codes (truncating at its LSB), then the quotient is shifted up."""
    factor, up = size, max(-in_type.frac, 0)  # frac < 0: the quotient's code, shifted up
    k = (2 * in_range).bit_length() - 1 + max(in_type.frac, 0)
    common = min((factor & -factor).bit_length() - 1, k)  # powers of two that cancel
    factor, k = factor >> common, k - common
    lo, hi = x.lo * factor, x.hi * factor
    width = max(width_for(lo, hi, True), k + 2)
    wide = m.wire(f"{name}_x", x.ref.cast(width, True))
    product = m.wire(f"{name}_p", _shift_add(wide.expr, factor))
    if lo < 0 and k > 0:  # toward zero: negative numerators get 2**k - 1 before the shift
        bias = mux(product.ref().msb, const((1 << k) - 1, width, True), const(0, width, True))
        product = m.wire(f"{name}_b", product.expr + bias)
    quotient = Value(product.ref().sub(k, width - k, True), 0, _trunc_shift(lo, k),
                     _trunc_shift(hi, k))
    if up:
        scaled = m.wire(f"{name}_u", concat(quotient.ref, const(0, up, False)).as_signed())
        quotient = Value(scaled.ref(), 0, quotient.lo << up, quotient.hi << up)
    quotient = _wrap(m, quotient, INT32, f"{name}_q")
    offset = (in_range * size) // (2 * in_range)
    lo, hi = quotient.lo + offset, quotient.hi + offset
    width = width_for(lo, hi, True)
    index = m.wire(f"{name}_i", quotient.ref.cast(width, True) + const(offset, width, True))
    v = _wrap(m, Value(index.ref(), 0, lo, hi), INT32, f"{name}_w")
    top = size - 1
    bits = max(1, top.bit_length())
    out = v.ref.cast(max(bits + 1, v.ref.width), True)
    value = v.ref.expr
    if v.lo < 0:
        out = mux(value.lt(const(0, v.ref.width, True)), const(0, out.width, True), out)
    if v.hi > top:
        out = mux(value.gt(const(top, v.ref.width, True)), const(top, out.width, True), out)
    clamped = m.wire(f"{name}_c", out)
    return clamped.ref().bits(0, bits)


# ---- layers ------------------------------------------------------------------------------


def emit_lut(node: Lut, in_type: FixedType, name: str) -> LayerRtl:
    """hls4ml sigmoid / tanh: the index registered, then a registered ROM of the table cast
    to the output type. Latency 2."""
    m, p = _skeleton(name, node, in_type, node.size)
    size = int(node.table.shape[0])
    codes = _cast_table(node.table, node.table_type.frac, node.out_type)
    outputs = []
    for i in range(node.size):
        x = Value.of(_element(p.x, i, in_type), in_type.frac)
        index = _lut_index(m, x, in_type, size, node.in_range, f"i_{i}")
        address = m.register(f"a_{i}", index, p.clk, p.ce).expr
        outputs.append(_rom(m, p, address, codes, node.out_type, node.out_type.frac,
                            f"y_{i}").ref.expr)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, 2)


def _normalized(m: Module, x_max: Value, x: Value, name: str) -> Value:
    """``x_max - x`` exactly: one bit wider than the input, never negative."""
    width = x.ref.width + 1
    d = m.wire(name, x_max.ref.cast(width, True) - x.ref.cast(width, True))
    return Value(d.ref(), x.frac, 0, x.hi - x.lo)


def emit_softmax(node: Softmax, in_type: FixedType, name: str) -> LayerRtl:
    """hls4ml softmax_stable / softmax_latency, pipelined (II 1):

    1. stable only: ``x_max`` by a max reduce tree (its stated stages), then
       ``x_max - x_i`` cast to inp_norm_t;
    2. the exp table (cast to accum_t) at the top bits of that (stable) or of ``x_i``
       (latency): the address registered when it is computed, then the ROM;
    3. the sum: an accum_t reduce tree;
    4. the sum cast to inv_inp_t, its top bits address the inverse table;
    5. ``exp_i * inverse`` registered, then cast to the output type (registered unless
       the cast is only wiring).

    The jet tagger's softmax (5 inputs, hls4ml's default types) takes 8 cycles.
    """
    if node.implementation not in SOFTMAX_IMPLEMENTATIONS:
        raise UnsupportedLayerError(
            f"kiln.rtl cannot build softmax {node.name!r} with implementation "
            f"{node.implementation!r}; supported: {', '.join(SOFTMAX_IMPLEMENTATIONS)}"
        )
    m, p = _skeleton(name, node, in_type, node.size)
    acc_t, inv_t = node.accum_type, node.inv_table_type
    xs = [Value.of(_element(p.x, i, in_type), in_type.frac) for i in range(node.size)]
    latency = 0
    exp_codes = _cast_table(node.exp_table, node.exp_table_type.frac, acc_t)
    if node.implementation == "stable":
        x_max, latency = _reduce(m, p, xs, _max, "max")
        addresses = [_normalized(m, x_max, _delay(m, p, x, latency, f"x_{i}"), f"d_{i}")
                     for i, x in enumerate(xs)]
        address_t, computed = node.inp_norm_type, True
    else:
        addresses, address_t, computed = xs, in_type, False
    lookups = [_top_bits_lookup(m, p, v, computed, address_t, exp_codes, acc_t, f"e_{i}")
               for i, v in enumerate(addresses)]
    exps = [e for e, _ in lookups]
    latency += lookups[0][1]
    total, cycles = _reduce(m, p, exps, _adder(acc_t), "sum")
    inv, inv_cycles = _top_bits_lookup(m, p, total, False, node.inv_inp_type,
                                       [int(c) for c in node.inv_table], inv_t, "inv")
    latency += cycles + inv_cycles
    outputs = []
    product_frac = acc_t.frac + inv_t.frac
    extremes = [a * b for a in (min(exp_codes), max(exp_codes))
                for b in (inv.lo, inv.hi)]
    lo, hi = min(extremes), max(extremes)
    signed = acc_t.signed or inv_t.signed
    width = width_for(lo, hi, signed)
    wiring = is_wiring(product_frac, lo, hi, signed, node.out_type)
    for i, e in enumerate(exps):
        e = _delay(m, p, e, cycles + inv_cycles, f"e_{i}")
        product = m.register(f"p_{i}", e.ref.cast(width, signed) * inv.ref.cast(width, signed),
                             p.clk, p.ce)
        y = requantize(m, Value(product.ref(), product_frac, lo, hi), node.out_type, f"y_{i}")
        outputs.append(y if wiring else m.register(f"y_{i}", y, p.clk, p.ce).expr)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, latency + 1 + (not wiring))

