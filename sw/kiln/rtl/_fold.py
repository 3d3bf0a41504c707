"""A Dense layer folded in time: reuse factor R > 1, one sample every R cycles.

The arithmetic is hls4ml's (``dense_resource``, and ``dense_latency`` alike): every product
cast to the accumulator type, summed with the cast bias in the accumulator (wrapping), the
sum cast to the output type. Since the accumulator wraps, the order of the sum does not
change a bit, so the schedule is kiln's own:

The ``n_in * n_out`` products, in the order ``p = j * n_in + i`` (output ``j``, input
``i``), are cut into ``M = n_in * n_out / R`` slots of ``R`` consecutive products; slot
``s`` computes product ``s * R + k`` at step ``k``. These are exactly the reuse factors
hls4ml accepts (``R`` divides ``n_in``, or ``R`` is a multiple of ``n_in`` that divides
``n_in * n_out``), and each slot then works for one output at a time:

- ``R <= n_in``: output ``j`` has ``n_in / R`` slots; each step adds one product from each.
- ``R > n_in``: each slot computes ``R / n_in`` outputs one after the other, ``n_in`` steps
  each (a multiply-accumulate unit).

A *lane* is the accumulator a group of slots adds into: ``T = min(R, n_in)`` steps make one
output, ``R / T`` outputs per lane, ``n_out * T / R`` lanes. Each slot reads its weight from
a registered ROM addressed by the next step, whose word holds the weights of many slots
(block or LUT RAM in synthesis), and its input from the latched sample through a ``T``-way
multiplexer shared by the slots at the same input offset.

The stage keeps its own valid bits (ports ``rst_n``, ``in_valid``, ``out_valid``; the tlast
bit of the sample goes along as ``in_last``, ``out_last``) and holds
the stream into it (``hold``) while it computes: it takes a sample when idle or in the last
step of the one before, so samples follow each other every ``R`` cycles. The sample is
latched, then R steps run, each step's products are registered and added one cycle later,
and the result is valid ``R + 2`` cycles of ``ce`` after the sample was taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiln.ir import Dense, FixedType, is_valid_reuse_factor
from kiln.rtl._builder import Expr, Module, Ref, Signal, code_range, concat, const, mux, width_for
from kiln.rtl._linebuffer import wrap_counter
from kiln.rtl._requantize import Value, requantize, requantize_consts

# The widest weight ROM word: wider words are split over several ROMs (simulators handle
# constants of thousands of bits slowly; block RAMs are at most 72 bits wide anyway).
ROM_WORD_BITS = 1024


@dataclass(frozen=True)
class Folding:
    """The schedule of a Dense layer of ``n_in`` inputs and ``n_out`` outputs at reuse
    factor ``reuse``: ``steps`` (T) per output, ``outputs_per_lane`` (R / T), ``lanes``
    and ``slots_per_lane`` (n_in / T)."""

    n_in: int
    n_out: int
    reuse: int

    def __post_init__(self) -> None:
        if not is_valid_reuse_factor(self.n_in, self.n_out, self.reuse):
            raise ValueError(f"reuse factor {self.reuse} does not fold a {self.n_in} x "
                             f"{self.n_out} Dense")

    @property
    def steps(self) -> int:
        return min(self.reuse, self.n_in)

    @property
    def outputs_per_lane(self) -> int:
        return self.reuse // self.steps

    @property
    def lanes(self) -> int:
        return self.n_out // self.outputs_per_lane

    @property
    def slots_per_lane(self) -> int:
        return self.n_in // self.steps

    @property
    def multipliers(self) -> int:
        return self.lanes * self.slots_per_lane

    def product(self, lane: int, slot: int, step: int) -> tuple[int, int]:
        """(input i, output j) of the product a lane's slot computes at ``step``."""
        group, offset = divmod(step, self.steps)
        return slot * self.steps + offset, lane * self.outputs_per_lane + group


def _select(m: Module, options: list[Expr], select: Signal, name: str) -> Expr:
    """``options[select]`` as a tree of two-way multiplexers on the bits of ``select``."""
    level = 0
    while len(options) > 1:
        bit = select.ref().bit(level)
        pairs = [options[k:k + 2] for k in range(0, len(options), 2)]
        options = [mux(bit, p[1], p[0]) if len(p) == 2 else p[0] for p in pairs]
        level += 1
    return m.wire(name, options[0]).expr


@dataclass(frozen=True)
class _Control:
    """The step of the sample in work and the handshakes of the stage."""

    offset: Signal  # 0..T-1: the step within an output; selects the slots' inputs
    first: Expr     # the lane's first step of an output: add to the bias
    last: Expr      # the lane's last step of an output: write it
    group: Signal | None  # which of a lane's outputs is in work (None: one per lane)
    step_next: Expr  # the step after this cycle: the ROMs' address
    busy: Expr
    final: Expr     # the last step of the sample in work
    accept: Expr    # a sample is taken this cycle


def _control(m: Module, f: Folding, clk: Signal, rst_n: Signal, ce: Expr,
             in_valid: Expr) -> _Control:
    bits = width_for(0, max(f.reuse - 1, 1), False)
    busy = m.reg("busy", 1)
    step = m.reg("step", bits)
    final = m.wire("last_step", busy.expr & step.expr.eq(const(f.reuse - 1, bits, False))).expr
    accept = m.wire("accept", in_valid & (~busy.expr | final)).expr
    advance = busy.expr & ~final
    one = const(1, bits, False)
    step_next = m.wire("step_next", mux(accept, const(0, bits, False),
                                        mux(advance, step.expr + one, step.expr))).expr
    m.sync(step, step_next, clk, ce, reset=(rst_n.expr.logical_not(), const(0, bits, False)))
    m.sync(busy, accept | advance, clk, ce, reset=(rst_n.expr.logical_not(), const(0, 1, False)))
    offset, offset_last = wrap_counter(m, "offset", f.steps, ce & (accept | busy.expr), clk,
                                       rst_n, clear=accept)
    group = None
    if f.outputs_per_lane > 1:
        group, _ = wrap_counter(m, "group", f.outputs_per_lane,
                                ce & (accept | (busy.expr & offset_last)), clk, rst_n,
                                clear=accept)
    first = offset.expr.eq(const(0, offset.width, False))
    return _Control(offset, first, busy.expr & offset_last, group, step_next, busy.expr, final,
                    accept)


def _lane_bias(m: Module, node: Dense, f: Folding, lane: int, group: Signal | None,
               acc_t: FixedType) -> Expr:
    biases = requantize_consts([int(node.bias[lane * f.outputs_per_lane + g])
                                for g in range(f.outputs_per_lane)],
                               node.bias_type.frac, acc_t)
    options = [const(b, acc_t.width, acc_t.signed) for b in biases]
    return options[0] if group is None else _select(m, options, group, f"bias_{lane}")


@dataclass(frozen=True)
class _SlotWeights:
    """A slot's weight at the current step (a field of a ROM word) and its table's range."""

    weight: Ref
    low: int
    high: int


def _weight_roms(m: Module, node: Dense, f: Folding, address: Expr, clk: Signal, ce: Expr
                 ) -> dict[tuple[int, int], _SlotWeights]:
    """The weights of every slot with a non-zero weight, keyed by (lane, slot): all slots read
    the same step, so their weights share ROM words (one memory, not one per slot: block RAM
    in synthesis, and a table per step rather than per product for the simulators), words
    of at most ``ROM_WORD_BITS``."""
    w_t = node.weight_type
    mask = (1 << w_t.width) - 1
    tables = {}
    for lane in range(f.lanes):
        for slot in range(f.slots_per_lane):
            table = [int(node.weight[f.product(lane, slot, k)]) for k in range(f.reuse)]
            if any(table):
                tables[lane, slot] = table
    keys = list(tables)
    per_word = max(1, ROM_WORD_BITS // w_t.width)
    out = {}
    for r, first in enumerate(range(0, len(keys), per_word)):
        chunk = keys[first:first + per_word]
        words = [sum((tables[key][k] & mask) << (n * w_t.width) for n, key in enumerate(chunk))
                 for k in range(f.reuse)]
        rom = m.rom(f"w_{r}", address, words, len(chunk) * w_t.width, False, clk, ce)
        for n, key in enumerate(chunk):
            out[key] = _SlotWeights(rom.ref().sub(n * w_t.width, w_t.width, w_t.signed),
                                    min(tables[key]), max(tables[key]))
    return out


def _gathered(m: Module, f: Folding, lane: int, slot: int, c: _Control, channels: int,
              element: Callable[[int], Expr]) -> Expr:
    """A depthwise slot's input at this step: tap t of the channel j it works on, window
    element ``t * channels + j`` (the lane's channel changes with its group)."""
    per_group = []
    for g in range(f.outputs_per_lane):
        taps = [f.product(lane, slot, g * f.steps + t) for t in range(f.steps)]
        per_group.append(_select(m, [element(t * channels + j) for t, j in taps], c.offset,
                                 f"x_{lane}_{slot}_{g}"))
    if c.group is None:
        return per_group[0]
    return _select(m, per_group, c.group, f"x_{lane}_{slot}")


def _slot_products(m: Module, node: Dense, f: Folding, lane: int,
                   inputs: dict[tuple[int, int], Expr],
                   in_type: FixedType, weights: dict[tuple[int, int], _SlotWeights]
                   ) -> list[Expr]:
    """The lane's products at this step, each cast to the accumulator type."""
    w_t, acc_t = node.weight_type, node.accum_type
    width = in_type.width + (not in_type.signed) + w_t.width + (not w_t.signed)
    x_lo, x_hi = in_type.min_code, in_type.max_code
    terms = []
    for slot in range(f.slots_per_lane):
        if (lane, slot) not in weights:
            continue
        w = weights[lane, slot]
        x = inputs[lane, slot]
        x_ext = m.wire(f"xe_{lane}_{slot}", x).ref().cast(width, True)
        product = m.wire(f"p_{lane}_{slot}", _shift_add_product(x_ext, w.weight, width)
                         if node.lut_multipliers else x_ext * w.weight.cast(width, True))
        ends = [a * b for a in (x_lo, x_hi) for b in (w.low, w.high)]
        value = Value(product.ref(), in_type.frac + w_t.frac, min(ends), max(ends))
        terms.append(requantize(m, value, acc_t, f"c_{lane}_{slot}"))
    return terms


@dataclass(frozen=True)
class _Delayed:
    """The control of the step whose products are in the product registers."""

    busy: Expr
    first: Expr
    last: Expr
    final: Expr
    group: Signal | None


def _delayed(m: Module, c: _Control, clk: Signal, ce: Expr, rst_n: Signal) -> _Delayed:
    zero = const(0, 1, False)

    def delay(name: str, bit: Expr) -> Expr:
        q = m.reg(name, 1)
        m.sync(q, bit, clk, ce, reset=(rst_n.expr.logical_not(), zero))
        return q.expr

    group = None if c.group is None else m.register("group_d", c.group.expr, clk, ce)
    return _Delayed(delay("busy_d", c.busy), delay("first_d", c.first),
                    delay("last_d", c.last), delay("final_d", c.final), group)


def emit_folded_dense(node: Dense, in_type: FixedType, name: str, reuse: int,
                      channels: int | None = None) -> Module:
    """The folded Dense module (ports clk, rst_n, ce, in_valid, in_last, x, hold, out_valid,
    out_last, y).

    Args:
        node: the layer.
        in_type: the type of its input elements.
        name: the module name.
        reuse: the reuse factor R > 1 (one of :func:`valid_reuse_factors`).
        channels: for a depthwise convolution, its channels: ``node`` then holds one weight
            per tap and channel (``Conv.pixel_dense``), and the input is the whole window,
            tap t of channel c at element ``t * channels + c``.
    """
    f = Folding(node.n_in, node.n_out, reuse)
    acc_t, out_t = node.accum_type, node.out_type
    m = Module(name, f"kiln.rtl: layer {node.name!r} (dense), {node.n_in} x {in_type} -> "
                     f"{node.n_out} x {out_t}, folded: reuse factor {reuse}, "
                     f"{f.multipliers} multipliers"
                     f"{' (shifted adds in logic)' if node.lut_multipliers else ''}, a sample "
                     f"every {reuse} cycles.\n"
                     "Generated; do not edit.")
    clk, rst_n, ce = m.input("clk"), m.input("rst_n"), m.input("ce").expr
    in_valid = m.input("in_valid").expr
    in_last = m.input("in_last")
    x = m.input("x", node.n_in * (channels or 1) * in_type.width)
    hold = m.output("hold")
    out_valid = m.output("out_valid")
    out_last = m.output("out_last")
    y = m.output("y", node.n_out * out_t.width)

    c = _control(m, f, clk, rst_n, ce, in_valid)
    m.assign(hold, c.busy & ~c.final)
    x_q = m.reg("x_q", x.width)
    m.sync(x_q, x.expr, clk, ce & c.accept)
    last_q = m.reg("last_q", 1)
    m.sync(last_q, in_last.expr, clk, ce & c.accept)
    m.assign(out_last, m.register("out_last_q", last_q.expr, clk, ce & c.final).expr)
    def element(i: int) -> Expr:
        return x_q.ref().sub(i * in_type.width, in_type.width, in_type.signed).expr

    inputs: dict[tuple[int, int], Expr] = {}
    if channels is None:  # a slot's input depends on its offset: shared by the lanes
        for slot in range(f.slots_per_lane):
            shared = _select(m, [element(slot * f.steps + t) for t in range(f.steps)],
                             c.offset, f"x_{slot}")
            inputs.update({(lane, slot): shared for lane in range(f.lanes)})
    else:  # each channel reads its own taps
        for lane in range(f.lanes):
            for slot in range(f.slots_per_lane):
                inputs[lane, slot] = _gathered(m, f, lane, slot, c, channels, element)
    # The products of a step are registered; the accumulate stage works one cycle behind
    # on the step's control, delayed alongside.
    d = _delayed(m, c, clk, ce, rst_n)
    valid_q = m.reg("valid_q", 1)
    m.sync(valid_q, d.final, clk, ce, reset=(rst_n.expr.logical_not(), const(0, 1, False)))
    m.assign(out_valid, valid_q.expr)
    outputs: list[Expr] = [const(0, out_t.width, out_t.signed)] * node.n_out
    lo, hi = code_range(acc_t.width, acc_t.signed)
    weights = _weight_roms(m, node, f, c.step_next, clk, ce)
    for lane in range(f.lanes):
        acc = m.reg(f"acc_{lane}", acc_t.width, acc_t.signed)
        base = mux(d.first, _lane_bias(m, node, f, lane, d.group, acc_t), acc.expr)
        terms = [m.register(f"pq_{lane}_{k}", term, clk, ce).expr for k, term in
                 enumerate(_slot_products(m, node, f, lane, inputs, in_type, weights))]
        total = m.wire(f"sum_{lane}", _sum([base, *terms]))
        m.sync(acc, total.expr, clk, ce & d.busy)
        cast = requantize(m, Value(total.ref(), acc_t.frac, lo, hi), out_t, f"o_{lane}")
        for g in range(f.outputs_per_lane):
            j = lane * f.outputs_per_lane + g
            write = d.last
            if d.group is not None:
                write = write & d.group.expr.eq(const(g, d.group.width, False))
            outputs[j] = m.register(f"y_{j}", cast, clk, ce & write).expr
    m.assign(y, concat(*reversed(outputs)))
    return m


def _shift_add_product(x: Expr, w: Ref, width: int) -> Expr:
    """``x * w`` at ``width`` bits as one shifted copy of ``x`` per bit of ``w`` (the top
    bit of a signed ``w`` subtracts): adders in logic, where a ``*`` would take a DSP
    block (yosys maps every multiplication to one)."""
    zero = const(0, width, True)
    terms = [mux(w.bit(b), x.shl(b), zero) for b in range(w.width)]
    total = _sum(terms[:-1]) if w.width > 1 else zero
    return total - terms[-1] if w.signed else total + terms[-1]


def _sum(terms: list[Expr]) -> Expr:
    """The terms' sum at their (common) width, wrapping, as a balanced tree."""
    while len(terms) > 1:
        pairs = [terms[k:k + 2] for k in range(0, len(terms), 2)]
        terms = [p[0] + p[1] if len(p) == 2 else p[0] for p in pairs]
    return terms[0]
