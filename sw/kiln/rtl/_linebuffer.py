"""The sliding window of a stream layer: a line buffer of pixels and the window it exposes.

Pixels arrive one per accepted beat, row by row, all channels in one beat. The buffer is a
shift register of the last ``(kernel rows - 1) * columns + kernel cols`` pixels, so when the
newest pixel is the bottom-right corner of a window, the whole window sits at fixed taps.
Row and column counters mark the pixels that complete a window (on the stride grid); the
window is handed on, registered, with a valid bit. A window over the whole image (kernel =
image) is how a flatten before a Dense layer collects a frame. Zero padding is a stage of
its own (:func:`emit_pad`) that emits more pixels than it takes, buffering image pixels in
a small FIFO meanwhile and holding the stages before it when that is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.ir import FixedType
from kiln.rtl._builder import Expr, Module, Signal, concat, const, mux, reduce_or, width_for
from kiln.rtl._requantize import Value, requantize, requantize_const


@dataclass(frozen=True)
class WindowGeometry:
    """An image of ``rows`` x ``cols`` pixels of ``channels`` elements, ``width`` bits each,
    read in ``kernel`` windows every ``stride`` pixels."""

    rows: int
    cols: int
    channels: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]

    @property
    def pixel_bits(self) -> int:
        return self.channels * self.width

    @property
    def window_pixels(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def span(self) -> int:
        """Pixels the buffer holds: from a window's top-left to its bottom-right pixel."""
        return (self.kernel[0] - 1) * self.cols + self.kernel[1]


def wrap_counter(m: Module, name: str, size: int, step: Expr, clk: Signal, rst_n: Signal,
                 clear: Expr | None = None) -> tuple[Signal, Expr]:
    """A counter 0..size-1 that advances on ``step`` and wraps (or goes to 0 on ``step`` when
    ``clear``); returns it and its last-value flag."""
    bits = width_for(0, max(size - 1, 1), False)
    q = m.reg(name, bits)
    last = q.expr.eq(const(size - 1, bits, False))
    nxt = mux(last, const(0, bits, False), q.expr + const(1, bits, False))
    if clear is not None:
        nxt = mux(clear, const(0, bits, False), nxt)
    m.sync(q, nxt, clk, step, reset=(rst_n.expr.logical_not(), const(0, bits, False)))
    return q, last


def _on_grid(position: Expr, first: int, stride: int, size: int) -> Expr:
    """``position >= first and (position - first) % stride == 0``, positions below ``size``."""
    hits = list(range(first, size, stride))
    if stride == 1:
        if first == 0:
            return const(1, 1, False)
        return ~position.lt(const(first, position.width, False))
    return reduce_or(concat(*(position.eq(const(h, position.width, False)) for h in hits)))


def emit_window(name: str, g: WindowGeometry, comment: str) -> Module:
    """A module with ports clk, rst_n, ce, in_valid, x (one pixel), out_valid, y (the window,
    pixel (r, c) of the window at element offset ``(r * kernel cols + c) * channels``).

    Latency 1 cycle of ``ce``: ``out_valid`` is set the cycle after the pixel that completes
    a window is taken, and ``y`` holds that window until the next pixel is taken.
    """
    m = Module(name, comment)
    clk = m.input("clk")
    rst_n = m.input("rst_n")
    ce = m.input("ce")
    in_valid = m.input("in_valid")
    x = m.input("x", g.pixel_bits)
    out_valid = m.output("out_valid")
    y = m.output("y", g.window_pixels * g.pixel_bits)
    take = m.wire("take", ce.expr & in_valid.expr).expr
    col, last_col = wrap_counter(m, "col", g.cols, take, clk, rst_n)
    row, _ = wrap_counter(m, "row", g.rows, take & last_col, clk, rst_n)
    taps = [m.reg(f"px_{k}", g.pixel_bits) for k in range(g.span)]
    for k, tap in enumerate(taps):
        m.sync(tap, x.expr if k == 0 else taps[k - 1].expr, clk, take)
    (kr, kc), (sr, sc) = g.kernel, g.stride
    complete = (_on_grid(row.expr, kr - 1, sr, g.rows) & _on_grid(col.expr, kc - 1, sc, g.cols))
    valid = m.reg("valid_q", 1)
    m.sync(valid, take & complete, clk, ce.expr,
           reset=(rst_n.expr.logical_not(), const(0, 1, False)))
    m.assign(out_valid, valid.expr)
    # Window pixel (r, c) was taken (kr-1-r) rows and (kc-1-c) columns before the newest.
    window = [taps[(kr - 1 - r) * g.cols + (kc - 1 - c)].expr
              for r in range(kr) for c in range(kc)]
    m.assign(y, concat(*reversed(window)))
    return m


@dataclass(frozen=True)
class PadGeometry:
    """Zero padding of an image of ``rows`` x ``cols`` pixels: ``pads`` = (top, bottom, left,
    right)."""

    rows: int
    cols: int
    pads: tuple[int, int, int, int]

    @property
    def out_rows(self) -> int:
        return self.rows + self.pads[0] + self.pads[1]

    @property
    def out_cols(self) -> int:
        return self.cols + self.pads[2] + self.pads[3]

    @property
    def trailing(self) -> int:
        """Padding pixels after the last image pixel of a frame."""
        return self.pads[3] + self.pads[1] * self.out_cols

    @property
    def fifo_depth(self) -> int:
        """Input pixels the stage buffers while it emits padding: a frame's padding, up to
        :data:`MAX_PAD_FIFO`, so stages upstream keep moving instead of being held."""
        top, bottom, left, right = self.pads
        per_frame = (top + bottom) * self.out_cols + (left + right) * self.rows
        return max(1, min(per_frame, MAX_PAD_FIFO))


#: Most pixels a padding stage's input FIFO holds (2D images with padding rows would
#: otherwise buffer whole rows; past this the stage holds the stages before it instead).
MAX_PAD_FIFO = 8


def _outside(position: Expr, before: int, size: int) -> Expr:
    """``position < before or position >= before + size`` (a padding row or column)."""
    w = position.width
    terms = []
    if before:
        terms.append(position.lt(const(before, w, False)))
    terms.append(~position.lt(const(before + size, w, False)))
    return reduce_or(concat(*terms))


def _fifo(m: Module, depth: int, x: Signal, push: Expr, pop: Expr, clk: Signal,
          rst_n: Signal) -> tuple[Expr, Expr, Expr]:
    """A ``depth``-entry FIFO of ``x``-wide words: entry 0 is the head, later entries shift
    down on ``pop``; ``push`` writes behind the last entry. Returns (head, not empty, full)."""
    bits = width_for(0, depth, False)
    count = m.reg("fifo_count", bits)
    one = const(1, bits, False)
    m.sync(count, mux(push, mux(pop, count.expr, count.expr + one),
                      mux(pop, count.expr - one, count.expr)),
           clk, push | pop, reset=(rst_n.expr.logical_not(), const(0, bits, False)))
    # Where a pushed word lands: behind the last entry, one place lower when popping too.
    slot = m.wire("fifo_slot", mux(pop, count.expr - one, count.expr)).expr
    entries = [m.reg(f"fifo_{k}", x.width) for k in range(depth)]
    for k, entry in enumerate(entries):
        lands = push & slot.eq(const(k, bits, False))
        shifted = entries[k + 1].expr if k + 1 < depth else entry.expr
        m.sync(entry, mux(lands, x.expr, shifted), clk, lands | pop)
    full = count.expr.eq(const(depth, bits, False))
    empty = count.expr.eq(const(0, bits, False))
    return entries[0].expr, ~empty, full


def emit_pad(name: str, g: PadGeometry, channels: int, in_type: FixedType,
             out_type: FixedType, comment: str) -> Module:
    """A module with ports clk, rst_n, ce, in_valid, x, hold, out_valid, y that emits the
    padded frame, one pixel per cycle of ``ce``: image pixels (cast to ``out_type``) as they
    come, padding pixels (zero codes) on its own. Image pixels wait in a FIFO of
    ``g.fifo_depth`` while padding goes out; ``hold`` is high while it is full (the stages
    before must not advance then). The first pixel of a frame waits for the first image
    pixel, so an idle stream stays idle. Latency 2: into the FIFO, out of the register.
    """
    m = Module(name, comment)
    clk = m.input("clk")
    rst_n = m.input("rst_n")
    ce = m.input("ce")
    in_valid = m.input("in_valid")
    x = m.input("x", channels * in_type.width)
    hold = m.output("hold")
    out_valid = m.output("out_valid")
    y = m.output("y", channels * out_type.width)
    top, _, left, _ = g.pads
    row_bits = width_for(0, max(g.out_rows - 1, 1), False)
    col_bits = width_for(0, max(g.out_cols - 1, 1), False)
    col = m.reg("col", col_bits)
    row = m.reg("row", row_bits)
    padding = m.wire("padding", _outside(row.expr, top, g.rows) |
                     _outside(col.expr, left, g.cols)).expr
    started = m.wire("started", reduce_or(concat(row.expr, col.expr))).expr
    full = m.net("full", 1)
    m.assign(hold, full.expr)
    push = m.wire("push", ce.expr & in_valid.expr & ~full.expr).expr
    pixel_ready = m.net("pixel_ready", 1)
    pop = m.wire("pop", ce.expr & ~padding & pixel_ready.expr).expr
    head, not_empty, is_full = _fifo(m, g.fifo_depth, x, push, pop, clk, rst_n)
    m.assign(full, is_full)
    m.assign(pixel_ready, not_empty)
    emit = m.wire("emit", (padding & (started | pixel_ready.expr)) |
                  (~padding & pixel_ready.expr)).expr
    step = ce.expr & emit
    last_col = col.expr.eq(const(g.out_cols - 1, col_bits, False))
    last_row = row.expr.eq(const(g.out_rows - 1, row_bits, False))
    m.sync(col, mux(last_col, const(0, col_bits, False), col.expr + const(1, col_bits, False)),
           clk, step, reset=(rst_n.expr.logical_not(), const(0, col_bits, False)))
    m.sync(row, mux(last_row, const(0, row_bits, False), row.expr + const(1, row_bits, False)),
           clk, step & last_col, reset=(rst_n.expr.logical_not(), const(0, row_bits, False)))
    valid = m.reg("valid_q", 1)
    m.sync(valid, emit, clk, ce.expr, reset=(rst_n.expr.logical_not(), const(0, 1, False)))
    m.assign(out_valid, valid.expr)
    zero = const(requantize_const(0, in_type.frac, out_type), out_type.width, out_type.signed)
    head_net = m.wire("head", head)
    outputs = []
    for ch in range(channels):
        element = head_net.ref().sub(ch * in_type.width, in_type.width, in_type.signed)
        cast = requantize(m, Value.of(element, in_type.frac), out_type, f"c_{ch}")
        outputs.append(m.register(f"y_{ch}", mux(padding, zero, cast), clk, ce.expr).expr)
    m.assign(y, concat(*reversed(outputs)))
    return m
