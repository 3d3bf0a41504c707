"""hls4ml's leaky_relu / prelu / thresholded_relu (:class:`LeakyRelu`) and elu (:class:`Elu`)
in gates, following kiln.fixed (``leaky_relu_step``, ``elu_step``) operation by operation so
their codes equal hls4ml's C simulation.

A LeakyRelu element is a comparison with a constant, a constant multiply built as shifted
adds, a multiplexer and one cast: latency 1. An Elu element computes its table index
(``x * T / -8`` as a multiply and a shift), registers it, and reads a registered ROM that
already holds ``alpha * table[i]`` cast to the output type; the input's own cast waits
alongside: latency 2.
"""

from __future__ import annotations

from kiln.errors import UnsupportedLayerError
from kiln.ir import Elu, FixedType, LeakyRelu, spatial
from kiln.rtl._builder import Expr, Module, Ref, const, mux, width_for
from kiln.rtl._layers import (
    LayerRtl,
    _drive_outputs,
    _element,
    _emit_elementwise,
    _Ports,
    _shift_add,
    _skeleton,
)
from kiln.rtl._requantize import Value, requantize, requantize_consts


def _times(x: Expr, factor: int, width: int) -> Expr:
    """``x * factor`` at ``width`` bits (wrapping), as shifted adds; 0 builds a constant."""
    return const(0, width, True) if factor == 0 else _shift_add(x, factor)


def _leaky_element(m: Module, p: _Ports, node: LeakyRelu, in_type: FixedType, i: int
                   ) -> Expr:
    xi = _element(p.x, i, in_type)
    lo, hi = in_type.min_code, in_type.max_code
    alpha = node.alpha_at(i)
    threshold = node.threshold_code(in_type)
    product_frac = in_type.frac + node.alpha_type.frac
    frac = max(in_type.frac, product_frac)
    up_x, up_p = frac - in_type.frac, frac - product_frac
    ranges = []  # the codes each branch can give, at ``frac``
    if hi > threshold:
        ranges.append((max(lo, threshold + 1) << up_x, hi << up_x))
    if lo <= threshold:
        ends = [v * alpha << up_p for v in (lo, min(hi, threshold))]
        ranges.append((min(ends), max(ends)))
    vlo, vhi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    width = max(width_for(vlo, vhi, True), in_type.width + 1)
    wide = xi.cast(width, True)
    passed = wide.shl(up_x)
    product = _times(wide, alpha, width).shl(up_p)
    if hi <= threshold:
        chosen = product
    elif lo > threshold:
        chosen = passed
    else:
        above = xi.expr.gt(const(threshold, in_type.width, in_type.signed))
        chosen = mux(above, passed, product)
    value = m.wire(f"v_{i}", chosen)
    cast = requantize(m, Value(value.ref(), frac, vlo, vhi), node.out_type, f"y_{i}")
    return m.register(f"y_{i}", cast, p.clk, p.ce).expr


def emit_leaky_relu(node: LeakyRelu, in_type: FixedType, name: str) -> LayerRtl:
    """``y = cast_out(x > threshold ? x : alpha_i * x)`` per element, registered: latency 1.
    Both branches are exact values at the finer binary point, so the multiplexer comes
    before the one cast."""
    if len(node.alpha) not in (1, spatial(node.shape)[2], node.size):
        raise UnsupportedLayerError(
            f"kiln.rtl cannot build layer {node.name!r} (leaky_relu) per pixel: its "
            f"{len(node.alpha)} slopes differ from pixel to pixel, and io_stream builds one "
            "pixel's channels. Fix: compile with io_type='io_parallel', or give every pixel "
            "the same slopes (one per channel).")
    m, p = _skeleton(name, node, in_type, node.size)
    _drive_outputs(m, p.y, [_leaky_element(m, p, node, in_type, i) for i in range(node.size)])
    return LayerRtl(m, 1)


def _elu_index(m: Module, xi: Ref, in_type: FixedType, size: int, name: str) -> Expr:
    """``min(int(x * T / -8), T - 1)`` for a negative code (clamped into the table for the
    others, which do not use it), ``(T - 1).bit_length()`` unsigned bits:
    ``((-x * T) >> down) << up`` (:meth:`Elu.index_shifts`)."""
    down, up = Elu.index_shifts(in_type)
    lo, hi = -in_type.max_code * size, -in_type.min_code * size
    width = width_for(lo, hi, True)
    numerator = m.wire(f"{name}_n", _shift_add(-xi.cast(width, True), size))
    qlo, qhi = lo >> down, hi >> down
    quotient_t = FixedType(width_for(qlo, qhi, True), width_for(qlo, qhi, True))
    q = m.wire(f"{name}_q", requantize(m, Value(numerator.ref(), down, lo, hi), quotient_t,
                                       f"{name}_q")).ref()
    top = size - 1
    bits = max(1, top.bit_length())
    wide = max(quotient_t.width + up, bits + 1)
    scaled = m.wire(f"{name}_s", q.cast(wide, True).shl(up))
    out = scaled.expr
    if qlo < 0:
        out = mux(q.msb, const(0, wide, True), out)
    if qhi << up > top:
        out = mux(scaled.expr.gt(const(top, wide, True)), const(top, wide, True), out)
    return m.wire(f"{name}_c", out).ref().bits(0, bits)


def emit_elu(node: Elu, in_type: FixedType, name: str) -> LayerRtl:
    """hls4ml elu: ``x >= 0 ? cast_out(x) : cast_out(alpha * table[index])``. The index is
    registered, then a registered ROM of ``alpha * table[i]`` cast to the output type is
    read while the input's own cast and sign wait in registers; the output selects between
    them: latency 2. An input type without negative codes is only the cast (latency 1)."""
    if in_type.min_code >= 0:
        return _emit_elementwise(node, in_type, name, relu=False)
    m, p = _skeleton(name, node, in_type, node.size)
    size = len(node.table)
    codes = requantize_consts(node.table * node.alpha,
                              node.alpha_type.frac + node.table_type.frac, node.out_type)
    t = node.out_type
    outputs = []
    for i in range(node.size):
        xi = _element(p.x, i, in_type)
        address = m.register(f"a_{i}", _elu_index(m, xi, in_type, size, f"i_{i}"), p.clk,
                             p.ce).expr
        table = m.rom(f"t_{i}", address, codes, t.width, t.signed, p.clk, p.ce)
        cast = requantize(m, Value.of(xi, in_type.frac), t, f"c_{i}")
        negative: Expr = xi.msb
        for k in range(2):
            cast = m.register(f"c_{i}_d{k}", cast, p.clk, p.ce).expr
            negative = m.register(f"n_{i}_d{k}", negative, p.clk, p.ce).expr
        outputs.append(mux(negative, table.expr, cast))
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, 2)
