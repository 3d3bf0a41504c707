"""kiln IR graph (io_stream) -> Verilog: one AXI4-Stream beat per pixel with all its channels.

The stages are the io_parallel layer modules (kiln.rtl._layers, kiln.rtl._tables) applied to
one pixel, plus line buffers (kiln.rtl._linebuffer) in front of every convolution, pooling
and frame-collecting Dense layer: a convolution is a window followed by a fully unrolled
Dense over that window, one output pixel per cycle. Every stage advances on one clock
enable ``ce = m_axis_tready | ~out_valid`` (as in kiln.rtl._emit): when the output holds a
beat nobody takes, the whole pipeline stalls, so no pixel is dropped, duplicated or
reordered; pixels that complete no window leave bubbles (valid low) behind them. Reset
clears every valid bit and the line-buffer counters, so a frame cut off by reset leaves
nothing behind. ``m_axis_tlast`` marks the last pixel of each output frame;
``s_axis_tlast`` is not needed (frames have a fixed size) and is ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kiln.errors import KilnError, UnsupportedLayerError
from kiln.ir import (
    Cast,
    Conv,
    Dense,
    FixedType,
    Graph,
    Input,
    Lut,
    Node,
    Pad,
    Pool,
    Relu,
    Softmax,
    check_graph,
    spatial,
)
from kiln.rtl._builder import Expr, Module, Signal, concat, const, mux, width_for
from kiln.rtl._design import TOP, RtlDesign, RtlMeta
from kiln.rtl._layers import LayerRtl, emit_cast, emit_dense, emit_relu
from kiln.rtl._linebuffer import (
    PadGeometry,
    WindowGeometry,
    emit_pad,
    emit_window,
    wrap_counter,
)
from kiln.rtl._requantize import Value, requantize
from kiln.rtl._tables import emit_lut, emit_softmax


@dataclass(frozen=True)
class _Stage:
    """A module in the stream: a layer module with a fixed latency whose valid bits the top
    shifts alongside ("layer"), a line buffer with its own valid logic ("window"), or a zero
    padding stage that also holds the stages before it ("pad"). ``trailing`` counts the
    padding pixels a pad stage emits after a frame's last input pixel."""

    module: Module
    latency: int
    kind: str = "layer"
    trailing: int = 0


def _pixels(shape: tuple[int, ...]) -> int:
    rows, cols, _ = spatial(shape)
    return rows * cols


def _window_stage(name: str, previous: Node, kernel: tuple[int, int],
                  stride: tuple[int, int], what: str) -> _Stage:
    rows, cols, channels = spatial(previous.shape)
    g = WindowGeometry(rows, cols, channels, previous.out_type.width, kernel, stride)
    comment = (f"kiln.rtl: line buffer of {what}: {rows}x{cols}x{channels} {previous.out_type} "
               f"pixels, {kernel[0]}x{kernel[1]} windows, stride {stride}.\n"
               "Generated; do not edit.")
    return _Stage(emit_window(f"{name}_window", g, comment), 1, "window")


def _emit_max(node: Pool, in_type: FixedType, channels: int, name: str) -> LayerRtl:
    """``cast_out(max(window))`` per channel, registered: latency 1."""
    count = node.kernel[0] * node.kernel[1]
    m = Module(name, f"kiln.rtl: layer {node.name!r} (max pool {node.kernel}), "
                     f"{channels} x {in_type} -> {node.out_type}.\nGenerated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", count * channels * in_type.width)
    y = m.output("y", channels * node.out_type.width)
    outputs: list[Expr] = []
    for ch in range(channels):
        level = [x.ref().sub((k * channels + ch) * in_type.width, in_type.width,
                             in_type.signed).expr for k in range(count)]
        depth = 0
        while len(level) > 1:
            pairs = [mux(a.gt(b), a, b) for a, b in zip(level[::2], level[1::2], strict=False)]
            level = [m.wire(f"max{depth}_{ch}_{k}", e).expr
                     for k, e in enumerate(pairs)] + level[len(pairs) * 2:]
            depth += 1
        top = m.wire(f"max_{ch}", level[0]).ref()
        cast = requantize(m, Value.of(top, in_type.frac), node.out_type, f"y_{ch}")
        outputs.append(m.register(f"y_{ch}", cast, clk, ce.expr).expr)
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


def _emit_divide(node: Pool, channels: int, name: str) -> LayerRtl:
    """``cast_out(sum / window size)`` per channel, the quotient truncated toward zero at the
    accumulator's LSB as ap_fixed divides by an int; a multiply by the reciprocal, registered:
    latency 1."""
    acc, n = node.accum_type, node.window_size
    factor, shift = reciprocal(n, acc.width)
    # The quotient: one bit wider than the sum (so -min / 1 would fit), same binary point.
    quotient_t = FixedType(acc.width + 1, acc.width + 1 - acc.frac, True, "TRN_ZERO", "WRAP")
    m = Module(name, f"kiln.rtl: layer {node.name!r} (average pool {node.kernel}: sum / {n}), "
                     f"{channels} x {acc} -> {node.out_type}.\nGenerated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", channels * acc.width)
    y = m.output("y", channels * node.out_type.width)
    outputs: list[Expr] = []
    lo, hi = acc.min_code, acc.max_code
    for ch in range(channels):
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


def _pool_stages(node: Pool, previous: Node, name: str) -> list[_Stage]:
    """Line buffer, then max (one stage) or sum (a Dense) and divide."""
    channels = spatial(previous.shape)[2]
    window = _window_stage(name, previous, node.kernel, node.stride, f"pool {node.name!r}")
    if node.op == "max":
        layer = _emit_max(node, previous.out_type, channels, name)
        return [window, _Stage(layer.module, layer.latency)]
    total = emit_dense(node.window_sum(), previous.out_type, f"{name}_sum")
    divide = _emit_divide(node, channels, name)
    return [window, _Stage(total.module, total.latency), _Stage(divide.module, divide.latency)]


def _per_pixel(node: Node) -> Node:
    """The node applied to one pixel (its channels)."""
    return dataclasses.replace(node, shape=(spatial(node.shape)[2],))


def _stages(node: Node, previous: Node, name: str) -> list[_Stage]:
    in_type = previous.out_type
    if isinstance(node, Pad):
        rows, cols, channels = spatial(previous.shape)
        g = PadGeometry(rows, cols, node.pads)
        comment = (f"kiln.rtl: layer {node.name!r} (zero padding {node.pads}, top, bottom, "
                   f"left, right) of {rows}x{cols}x{channels} {in_type} pixels.\n"
                   "Generated; do not edit.")
        module = emit_pad(name, g, channels, in_type, node.out_type, comment)
        return [_Stage(module, 2, "pad", g.trailing)]
    if isinstance(node, Conv):
        layer = emit_dense(node.window_dense(), in_type, name)
        return [_window_stage(name, previous, node.kernel, node.stride, f"conv {node.name!r}"),
                _Stage(layer.module, layer.latency)]
    if isinstance(node, Pool):
        return _pool_stages(node, previous, name)
    if isinstance(node, Dense):
        layer = emit_dense(node, in_type, name)
        rows, cols, _ = spatial(previous.shape)
        if rows * cols == 1:
            return [_Stage(layer.module, layer.latency)]
        return [_window_stage(name, previous, (rows, cols), (1, 1), f"flatten before "
                              f"{node.name!r}"), _Stage(layer.module, layer.latency)]
    per_pixel = {Relu: emit_relu, Cast: emit_cast, Lut: emit_lut}
    emitter = per_pixel.get(type(node))
    if emitter is not None:
        layer = emitter(_per_pixel(node), in_type, name)  # type: ignore[operator]
        return [_Stage(layer.module, layer.latency)]
    if isinstance(node, Softmax) and _pixels(previous.shape) == 1:
        layer = emit_softmax(node, in_type, name)
        return [_Stage(layer.module, layer.latency)]
    raise UnsupportedLayerError(
        f"kiln.rtl cannot stream layer {node.name!r} of kind {node.kind!r} over "
        f"{previous.shape}: io_stream builds conv, pool, dense, relu, cast, lut, and softmax on "
        "a single pixel."
    )


def _valid_pipe(m: Module, name: str, latency: int, valid: Expr, clk: Signal, ce: Expr,
                rst_n: Signal) -> Expr:
    """``valid`` delayed by ``latency`` cycles of ``ce``, cleared by reset."""
    q = m.reg(name, latency)
    d = concat(q.ref().bits(0, latency - 1), valid) if latency > 1 else valid
    m.sync(q, d, clk, ce, reset=(rst_n.expr.logical_not(), const(0, latency, False)))
    return q.ref().msb


def _top(graph: Graph, stages: list[_Stage], out_pixels: int) -> Module:
    first, last = graph.input, graph.output
    in_channels, out_channels = spatial(first.shape)[2], spatial(last.shape)[2]
    m = Module(TOP, f"kiln.rtl: io_stream top of graph {graph.name!r}: one beat per pixel, "
                    f"{out_pixels} output beat(s) per frame.\nGenerated; do not edit.")
    clk = m.input("clk")
    rst_n = m.input("rst_n")
    s_tdata = m.input("s_axis_tdata", in_channels * first.out_type.width)
    s_tvalid = m.input("s_axis_tvalid")
    s_tready = m.output("s_axis_tready")
    m.input("s_axis_tlast")
    m_tdata = m.output("m_axis_tdata", out_channels * last.out_type.width)
    m_tvalid = m.output("m_axis_tvalid")
    m_tready = m.input("m_axis_tready")
    m_tlast = m.output("m_axis_tlast")
    out_valid = m.net("out_valid", 1)
    # Each stage advances on the clock enable of its segment: the output's, held further by
    # every pad stage downstream while it emits padding.
    bases = [stage.module.name.removeprefix("kiln_") for stage in stages]
    holds = {i: m.net(f"{bases[i]}_hold", 1) for i, st in enumerate(stages) if st.kind == "pad"}
    ces: list[Expr] = []
    ce = m.wire("ce", m_tready.expr | ~out_valid.expr).expr
    for i in reversed(range(len(stages))):
        ces.insert(0, ce)
        if i in holds:
            ce = m.wire(f"{bases[i]}_ce_in", ce & ~holds[i].expr).expr
    m.assign(s_tready, rst_n.expr & ce)
    valid: Expr = s_tvalid.expr & rst_n.expr
    data: Expr = s_tdata.expr
    for i, (stage, base, ce) in enumerate(zip(stages, bases, ces, strict=True)):
        y = m.net(f"{base}_y", stage.module.ports[-1].width)
        if stage.kind == "layer":
            m.instance(stage.module, f"u_{base}", clk=clk.expr, ce=ce, x=data, y=y.expr)
            valid = _valid_pipe(m, f"{base}_valid_q", stage.latency, valid, clk, ce, rst_n)
        else:
            v = m.net(f"{base}_valid", 1)
            ports = {"hold": holds[i].expr} if i in holds else {}
            m.instance(stage.module, f"u_{base}", clk=clk.expr, rst_n=rst_n.expr, ce=ce,
                       in_valid=valid, x=data, out_valid=v.expr, y=y.expr, **ports)
            valid = v.expr
        data = y.expr
    m.assign(out_valid, valid)
    m.assign(m_tvalid, rst_n.expr & valid)
    m.assign(m_tdata, data)
    # Output pixel counter: tlast on the last pixel of every frame.
    _, is_last = wrap_counter(m, "out_pixel", out_pixels, m_tready.expr & valid, clk, rst_n)
    m.assign(m_tlast, is_last)
    return m


def _check_streamable(graph: Graph) -> None:
    check_graph(graph)
    if graph.reuse_factor != 1:
        raise KilnError(f"Graph {graph.name!r}: reuse factor {graph.reuse_factor}; kiln.rtl "
                        "builds reuse factor 1 only")
    if len(graph.nodes) < 2 or any(isinstance(n, Input) for n in graph.nodes[1:]):
        raise KilnError(f"Graph {graph.name!r} needs one input followed by layers")


def emit_stream_rtl(graph: Graph) -> RtlDesign:
    """Build the Verilog for an io_stream kiln IR graph.

    Returns:
        One file per module plus ``kiln_top.v``; the metadata counts beats per frame
        (``in_beats``, ``out_beats``) and states the latency of the last output beat after
        the last input beat of a frame, and the II as input beats per frame.

    Raises:
        UnsupportedLayerError: A layer kiln cannot stream (e.g. softmax over many pixels).
        KilnError: A graph with a reuse factor above 1, or no layers.
    """
    from kiln.rtl._emit import _module_names

    _check_streamable(graph)
    nodes = list(graph.nodes[1:])
    stages: list[_Stage] = []
    previous = graph.input
    for node, name in zip(nodes, _module_names(nodes), strict=True):
        stages += _stages(node, previous, name)
        previous = node
    out_pixels = _pixels(graph.output.shape)
    top = _top(graph, stages, out_pixels)
    files = {f"{s.module.name}.v": s.module.emit() for s in stages}
    files[f"{TOP}.v"] = top.emit()
    first, last = graph.input, graph.output
    in_pixels = _pixels(first.shape)
    # A frame takes as many cycles as the largest padded image has pixels; the last output
    # follows the last input after every stage's latency plus the padding emitted after it.
    widest = max([in_pixels, *(_pixels(n.shape) for n in nodes if isinstance(n, Pad))])
    meta = RtlMeta(
        in_elems=spatial(first.shape)[2], in_width=first.out_type.width,
        in_signed=first.out_type.signed, out_elems=spatial(last.shape)[2],
        out_width=last.out_type.width, out_signed=last.out_type.signed,
        latency=sum(s.latency + s.trailing for s in stages), ii=widest, in_beats=in_pixels,
        out_beats=out_pixels, timing_exact=not any(isinstance(n, Pad) for n in nodes),
    )
    return RtlDesign(files, meta)
