"""The arithmetic of a pooling layer, shared by both io types: the max of each window, and an
average's division of each window sum by the window size.

io_stream (kiln.rtl._stream) hands these modules one window per beat, io_parallel
(kiln.rtl._parallel_conv) every window of the sample at once; the modules only differ in
which input elements each output reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from kiln.ir import FixedType, Pool
from kiln.rtl._builder import Expr, Module, concat, const, mux, width_for
from kiln.rtl._layers import LayerRtl
from kiln.rtl._requantize import Value, requantize


def emit_max_pool(node: Pool, in_type: FixedType, n_in: int, windows: Sequence[Sequence[int]],
                  name: str) -> LayerRtl:
    """``cast_out(max(window))`` for each output, registered: latency 1. ``x`` holds ``n_in``
    elements of ``in_type``; output ``j`` is the max of the elements ``windows[j]``."""
    m = Module(name, f"kiln.rtl: layer {node.name!r} (max pool {node.kernel}), "
                     f"{len(windows)} outputs of {n_in} x {in_type} -> {node.out_type}.\n"
                     "Generated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", n_in * in_type.width)
    y = m.output("y", len(windows) * node.out_type.width)
    outputs: list[Expr] = []
    for j, window in enumerate(windows):
        level = [x.ref().sub(k * in_type.width, in_type.width, in_type.signed).expr
                 for k in window]
        depth = 0
        while len(level) > 1:
            pairs = [mux(a.gt(b), a, b) for a, b in zip(level[::2], level[1::2], strict=False)]
            level = [m.wire(f"max{depth}_{j}_{k}", e).expr
                     for k, e in enumerate(pairs)] + level[len(pairs) * 2:]
            depth += 1
        top = m.wire(f"max_{j}", level[0]).ref()
        cast = requantize(m, Value.of(top, in_type.frac), node.out_type, f"y_{j}")
        outputs.append(m.register(f"y_{j}", cast, clk, ce.expr).expr)
    m.assign(y, concat(*reversed(outputs)))
    return LayerRtl(m, 1)


def reciprocal(divisor: int, bits: int) -> tuple[int, int]:
    """(factor, shift) with ``floor(a * factor / 2**shift) == a // divisor`` for every
    ``0 <= a < 2**bits`` (Granlund and Montgomery): with ``log = ceil(log2 divisor)``,
    ``factor = ceil(2**(bits + log) / divisor)`` overshoots ``a / divisor`` by less than
    ``2**-log <= 1 / divisor``, too little to reach the next integer. A power of two is a
    plain shift."""
    log = (divisor - 1).bit_length()
    if divisor == 1 << log:
        return 1, log
    shift = bits + log
    return -(-(1 << shift) // divisor), shift


def emit_average_divide(node: Pool, sums: int, name: str) -> LayerRtl:
    """``cast_out(sum / window size)`` for each of ``sums`` window sums (codes of the
    accumulator), the quotient truncated toward zero at the accumulator's LSB as ap_fixed
    divides by an int; a multiply by the reciprocal, registered: latency 1."""
    acc, n = node.accum_type, node.window_size
    factor, shift = reciprocal(n, acc.width)
    # The quotient: one bit wider than the sum (so -min / 1 would fit), same binary point.
    quotient_t = FixedType(acc.width + 1, acc.width + 1 - acc.frac, True, "TRN_ZERO", "WRAP")
    m = Module(name, f"kiln.rtl: layer {node.name!r} (average pool {node.kernel}: sum / {n}), "
                     f"{sums} x {acc} -> {node.out_type}.\nGenerated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", sums * acc.width)
    y = m.output("y", sums * node.out_type.width)
    outputs: list[Expr] = []
    lo, hi = acc.min_code, acc.max_code
    for ch in range(sums):
        total = x.ref().sub(ch * acc.width, acc.width, acc.signed)
        if factor == 1:
            scaled = Value.of(total, acc.frac + shift)
        else:
            width = width_for(lo * factor, hi * factor, True)
            product = m.wire(f"scaled_{ch}", total.cast(width, True) * const(factor, width, True))
            scaled = Value(product.ref(), acc.frac + shift, lo * factor, hi * factor)
        quotient = m.wire(f"quotient_{ch}", requantize(m, scaled, quotient_t, f"quotient_{ch}"))
        exact = Value(quotient.ref(), acc.frac, -(-lo // n), hi // n)  # lo <= 0 <= hi
        cast = requantize(m, exact, node.out_type, f"y_{ch}")
        outputs.append(m.register(f"y_{ch}", cast, clk, ce.expr).expr)
    m.assign(y, concat(*reversed(outputs)))
    return LayerRtl(m, 1)
