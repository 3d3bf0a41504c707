"""A stream FIFO: the stage that decouples the layers before it from the layers after it.

Every other stage advances on a clock enable that comes, through every stage after it, from
``m_axis_tready`` (kiln.rtl._top): one combinational path through the whole pipeline, which
set the routed clock of the folded LeNet (32.6 MHz on an ECP5, 85% of it routing). A FIFO's
``in_ready`` is a register compare, so the path ends there. And its words let the layers
before it run ahead while a folded layer after it computes: a folded convolution takes its
windows in bursts (none for the first rows of a frame, one every R cycles in the rest), so
without room in front of it the layers before it stall in step and the frame takes the sum
of the layers' times, not the slowest one's.

Words live in a simple dual-port RAM with a registered read (block or LUT RAM in synthesis)
plus the output register, which the read fills: show-ahead, latency 2 from a word in to it
valid at the output, ``depth + 1`` words in all. Reset empties it.
"""

from __future__ import annotations

from kiln.ir import Conv, Dense, Node, spatial
from kiln.rtl._builder import Module, const, mux, width_for

#: The fewest words a FIFO gets: LUT RAM comes 16 (ECP5) to 64 (Xilinx) words deep anyway.
FIFO_MIN_DEPTH = 16


def front_fifo_depth(node: Node, previous: Node) -> int | None:
    """io_stream: the words of the FIFO in front of ``node`` (reading ``previous``'s pixels),
    None when it gets none. A folded layer behind a line buffer gets one: for a convolution
    deep enough for the pixels up to its first window (the next frame's, while it finishes
    this one); for a Dense collecting the frame the line buffer itself holds the next frame,
    so the fewest words do."""
    if not isinstance(node, Dense | Conv) or node.reuse_factor == 1:
        return None
    rows, cols, _ = spatial(previous.shape)
    if isinstance(node, Dense):
        return None if rows * cols == 1 else FIFO_MIN_DEPTH
    span = (node.kernel[0] - 1) * cols + node.kernel[1]
    return max(FIFO_MIN_DEPTH, 1 << (span - 1).bit_length())


def emit_fifo(name: str, width: int, depth: int, comment: str) -> Module:
    """The FIFO module (ports clk, rst_n, in_valid, x, in_ready, out_valid, out_ready, y).

    Args:
        name: the module name.
        width: bits per word.
        depth: words in the RAM, a power of two >= 2.
        comment: the module's header comment.
    """
    assert depth >= 2 and depth & (depth - 1) == 0, depth
    m = Module(name, comment)
    clk, rst_n = m.input("clk"), m.input("rst_n")
    in_valid = m.input("in_valid").expr
    x = m.input("x", width)
    in_ready = m.output("in_ready")
    out_valid = m.output("out_valid")
    out_ready = m.input("out_ready").expr
    y = m.output("y", width)

    bits = depth.bit_length() - 1
    fill_bits = width_for(0, depth, False)
    reset = rst_n.expr.logical_not()
    count = m.reg("count", fill_bits)  # words in the RAM, not counting the output register
    head = m.reg("head", bits)         # the next word to write
    tail = m.reg("tail", bits)         # the next word to read
    valid_q = m.reg("valid_q", 1)
    not_full = m.wire("not_full", ~count.expr.eq(const(depth, fill_bits, False))).expr
    push = m.wire("push", in_valid & not_full).expr
    pop = m.wire("pop", ~count.expr.eq(const(0, fill_bits, False))
                 & (~valid_q.expr | out_ready)).expr
    one = const(1, bits, False)
    m.sync(head, head.expr + one, clk, push, reset=(reset, const(0, bits, False)))
    m.sync(tail, tail.expr + one, clk, pop, reset=(reset, const(0, bits, False)))
    step = const(1, fill_bits, False)
    zero = const(0, fill_bits, False)
    m.sync(count, count.expr + mux(push, step, zero) - mux(pop, step, zero), clk,
           reset=(reset, zero))
    m.sync(valid_q, pop | (valid_q.expr & ~out_ready), clk, reset=(reset, const(0, 1, False)))
    word = m.ram("word", depth, (head.expr, x.expr, push), (tail.expr, pop), clk)
    m.assign(in_ready, not_full)
    m.assign(out_valid, valid_q.expr)
    m.assign(y, word.expr)
    return m
