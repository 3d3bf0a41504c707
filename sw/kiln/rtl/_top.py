"""kiln IR graph -> Verilog: the layer pipeline wrapped in the AXI4-Stream top ``kiln_top``.

One top serves every io type: io_parallel is a stream of one beat per sample, io_stream one
beat per pixel (kiln.rtl._emit, kiln.rtl._stream build the stages). Every layer boundary is
a stream: a beat, its valid bit, and (io_parallel) the tlast bit travelling with it. A stage
advances on its clock enable ``ce = ready_after | ~valid_out``: when the stream after it is
ready, or when its own output holds no beat (so a bubble never holds up the stages before
it). The stream into a stage is ready when the stage advances and does not ``hold`` it (a
folded layer while it computes, a zero-padding stage while it emits padding). When the
output holds a beat nobody takes, the stages behind it stop as their outputs fill, so
nothing is dropped, duplicated or reordered. ``s_axis_tready`` is ``rst_n`` and the first
stage's input ready (combinational from ``m_axis_tready`` up to the first FIFO: a folded
io_stream layer has one in front, kiln.rtl._fifo, whose registered ready ends the path).
The active-low synchronous reset clears every valid bit and every stage's counters, so a
frame cut off by reset leaves nothing behind; while it is asserted neither port hands
anything over.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.artifact import TOP, TopContract
from kiln.errors import KilnError
from kiln.ir import Graph, Input, Node, check_graph
from kiln.rtl._builder import Expr, Module, Signal, concat, const, mux, width_for
from kiln.rtl._design import RtlDesign
from kiln.rtl._emit import PARALLEL, LayerPipeline, Stage
from kiln.rtl._linebuffer import wrap_counter
from kiln.rtl._stream import STREAM

#: The layer pipeline of each io type kiln.rtl builds.
PIPELINES: dict[str, LayerPipeline] = {p.io_type: p for p in (PARALLEL, STREAM)}


def _pipeline(io_type: str) -> LayerPipeline:
    pipeline = PIPELINES.get(io_type)
    if pipeline is None:
        raise KilnError(f"kiln.rtl builds no {io_type!r} graphs: io types are "
                        f"{', '.join(PIPELINES)}")
    return pipeline


def output_beats(graph: Graph, node: Node) -> int:
    """Beats per sample of ``node``'s output in ``graph``'s io type (io_stream: its pixels)."""
    return _pipeline(graph.io_type).beat(node)[0]


def supported_kinds(io_type: str = "io_parallel") -> list[str]:
    """The layer kinds kiln.rtl builds (besides the input).

    Args:
        io_type: ``"io_parallel"`` or ``"io_stream"``.

    Raises:
        KilnError: Another io type.
    """
    return _pipeline(io_type).supported_kinds()


def _check_buildable(graph: Graph) -> LayerPipeline:
    check_graph(graph)
    pipeline = PIPELINES.get(graph.io_type)
    if pipeline is None:
        raise KilnError(
            f"Graph {graph.name!r} is {graph.io_type}; kiln.rtl builds "
            f"{' and '.join(PIPELINES)} graphs. Convert with io_type='io_parallel' (or "
            "'io_stream')."
        )
    if len(graph.nodes) < 2:
        raise KilnError(f"Graph {graph.name!r} has no layer after its input; nothing to build")
    for node in graph.nodes[1:]:
        if isinstance(node, Input):
            raise KilnError(f"Graph {graph.name!r}: second input {node.name!r}")
        pipeline.emitter(node)
    return pipeline


@dataclass(frozen=True)
class _Stream:
    """A stream between two stages: the beat, its valid bit, and the tlast bit travelling
    with it (None: the top counts beats for tlast at the output). The beat moves on when it
    is valid and the segment after it advances."""

    data: Expr
    valid: Expr
    last: Expr | None


def _delay(m: Module, name: str, cycles: int, bit: Expr, clk: Signal, ce: Expr,
           rst_n: Signal) -> Expr:
    """``bit`` delayed by ``cycles`` cycles of ``ce`` in a shift register, cleared by reset."""
    q = m.reg(name, cycles)
    d = concat(q.ref().bits(0, cycles - 1), bit) if cycles > 1 else bit
    m.sync(q, d, clk, ce, reset=(rst_n.expr.logical_not(), const(0, cycles, False)))
    return q.ref().msb


def _enables(m: Module, stages: list[Stage], bases: list[str], valids: list[Signal],
             out_ready: Expr) -> tuple[list[Expr], Expr, dict[int, Signal]]:
    """Each stage's clock enable, from the output back: ``ready_after | ~valid_out``, where
    the ready into a stage is its clock enable unless it holds. A FIFO (a stage with
    ``in_ready``) has no enable: it gets ``ready_after`` itself, and the ready into it is its
    own registered ``in_ready``, which ends the path. Returns the enables (a FIFO's: the
    ready after it), the ready of ``s_axis``, and the nets of the stages that hold (a FIFO:
    its ``in_ready``)."""
    holds = {i: m.net(f"{bases[i]}_hold", 1) for i, st in enumerate(stages) if st.has("hold")}
    holds |= {i: m.net(f"{bases[i]}_in_ready", 1)
              for i, st in enumerate(stages) if st.has("in_ready")}
    ces: list[Expr] = []
    ready = out_ready
    for i in reversed(range(len(stages))):
        if stages[i].has("in_ready"):
            ces.insert(0, ready)
            ready = holds[i].expr
            continue
        ce = m.wire(f"{bases[i]}_ce", ready | ~valids[i].expr).expr
        ces.insert(0, ce)
        ready = m.wire(f"{bases[i]}_ready", ce & ~holds[i].expr).expr if i in holds else ce
    return ces, ready, holds


def _connect(m: Module, stage: Stage, base: str, ce: Expr, hold: Signal | None,
             into: _Stream, clk: Signal, rst_n: Signal) -> _Stream:
    """Instantiate ``stage`` on the stream ``into``; returns the stream out of it."""
    y = m.net(f"{base}_y", stage.module.ports[-1].width)
    if stage.has("in_ready"):
        assert hold is not None and into.last is None, "kiln.rtl: FIFOs carry no tlast"
        v = m.net(f"{base}_valid", 1)
        m.instance(stage.module, f"u_{base}", clk=clk.expr, rst_n=rst_n.expr,
                   in_valid=into.valid, x=into.data, in_ready=hold.expr, out_valid=v.expr,
                   out_ready=ce, y=y.expr)
        return _Stream(y.expr, v.expr, None)
    if not stage.has("in_valid"):
        m.instance(stage.module, f"u_{base}", clk=clk.expr, ce=ce, x=into.data, y=y.expr)
        valid = _delay(m, f"{base}_valid_q", stage.latency, into.valid, clk, ce, rst_n)
        last = (None if into.last is None else
                _delay(m, f"{base}_last_q", stage.latency, into.last, clk, ce, rst_n))
        return _Stream(y.expr, valid, last)
    # The stage keeps its own valid bits. A stage that takes one beat per beat out carries
    # tlast (in_last, out_last); one that drops or adds beats ends it here.
    v = m.net(f"{base}_valid", 1)
    ports = {} if hold is None else {"hold": hold.expr}
    last = None
    if stage.has("in_last"):
        ports["in_last"] = const(0, 1, False) if into.last is None else into.last
        out_last = m.net(f"{base}_last", 1)
        ports["out_last"] = out_last.expr
        last = None if into.last is None else out_last.expr
    m.instance(stage.module, f"u_{base}", clk=clk.expr, rst_n=rst_n.expr, ce=ce,
               in_valid=into.valid, x=into.data, out_valid=v.expr, y=y.expr, **ports)
    return _Stream(y.expr, v.expr, last)


def _throttled(stages: list[Stage], contract: TopContract) -> bool:
    """Whether folded stages of different rates follow each other (io_parallel): then the
    top takes a sample every II cycles at most, so no sample waits inside and every sample
    has the stated latency."""
    return contract.in_beats == 1 and len({s.interval for s in stages if s.interval > 1}) > 1


def _input_gap(m: Module, ii: int, taken: Expr, clk: Signal, rst_n: Signal) -> Expr:
    """A flag that is high once ``ii - 1`` cycles have passed since the last sample taken."""
    bits = width_for(0, ii - 1, False)
    gap = m.reg("in_gap", bits)
    open_ = m.wire("in_open", gap.expr.eq(const(ii - 1, bits, False))).expr
    full = const(ii - 1, bits, False)
    nxt = mux(taken, const(0, bits, False), mux(open_, gap.expr, gap.expr + const(1, bits, False)))
    m.sync(gap, nxt, clk, reset=(rst_n.expr.logical_not(), full))
    return open_


def _top(graph: Graph, stages: list[Stage], contract: TopContract,
         tlast_travels: bool) -> Module:
    exact = "" if contract.timing_exact else " (contention-free ideal)"
    m = Module(TOP, f"kiln.rtl: top of graph {graph.name!r} ({graph.io_type}), latency "
                    f"{contract.latency}, II {contract.ii}{exact}.\n{contract.in_beats} input "
                    f"and {contract.out_beats} output beat(s) per sample.\n"
                    "Generated; do not edit.")
    clk = m.input("clk")
    rst_n = m.input("rst_n")
    s_tdata = m.input("s_axis_tdata", contract.in_bits)
    s_tvalid = m.input("s_axis_tvalid")
    s_tready = m.output("s_axis_tready")
    s_tlast = m.input("s_axis_tlast")
    m_tdata = m.output("m_axis_tdata", contract.out_bits)
    m_tvalid = m.output("m_axis_tvalid")
    m_tready = m.input("m_axis_tready")
    m_tlast = m.output("m_axis_tlast")
    bases = [stage.module.name.removeprefix("kiln_") for stage in stages]
    valids = [m.net(f"{base}_out_valid", 1) for base in bases]
    ces, in_ready, holds = _enables(m, stages, bases, valids, m_tready.expr)
    open_ = rst_n.expr
    if _throttled(stages, contract):
        open_ = open_ & _input_gap(m, contract.ii, s_tvalid.expr & s_tready.expr, clk, rst_n)
    m.assign(s_tready, open_ & in_ready)
    stream = _Stream(s_tdata.expr, s_tvalid.expr & open_,
                     s_tlast.expr if tlast_travels else None)
    for i, (stage, base, ce) in enumerate(zip(stages, bases, ces, strict=True)):
        stream = _connect(m, stage, base, ce, holds.get(i), stream, clk, rst_n)
        m.assign(valids[i], stream.valid)
    m.assign(m_tvalid, rst_n.expr & stream.valid)
    m.assign(m_tdata, stream.data)
    last = stream.last
    if last is None:  # Count output beats: tlast on the last beat of every frame.
        _, last = wrap_counter(m, "out_pixel", contract.out_beats,
                               m_tready.expr & stream.valid, clk, rst_n)
    m.assign(m_tlast, last)
    return m


def _contract(graph: Graph, pipeline: LayerPipeline,
              layers: list[tuple[Node, list[Stage]]]) -> TopContract:
    first, last = graph.input, graph.output
    stages = [s for _, sts in layers for s in sts]
    in_beats, in_elems = pipeline.beat(first)
    out_beats, out_elems = pipeline.beat(last)
    # A frame takes as many cycles as the node with the most beats per frame has beats (zero
    # padding emits more than it takes); the last output beat follows the last input beat
    # after every stage's latency plus the padding emitted after it.
    return TopContract(
        in_elems=in_elems, in_width=first.out_type.width, in_signed=first.out_type.signed,
        out_elems=out_elems, out_width=last.out_type.width, out_signed=last.out_type.signed,
        latency=sum(s.latency + s.trailing for s in stages),
        ii=max(pipeline.beat(first)[0],
               *(pipeline.frame_cycles(node, sts) for node, sts in layers)),
        in_beats=in_beats, out_beats=out_beats,
        # A folded layer in io_stream holds the line buffer before it now and then: its
        # figures are ideals there.
        timing_exact=all(s.timing_exact for s in stages) and not (
            in_beats > 1 and any(s.interval > 1 for s in stages)),
    )


def _with_submodules(module: Module) -> list[Module]:
    """``module`` and every module it instantiates (an io_parallel convolution's window
    Dense), each once, instantiated modules first."""
    found: list[Module] = []
    for inst in module.instances:
        found += [m for m in _with_submodules(inst.module) if m not in found]
    return [*found, module]


def emit_rtl(graph: Graph) -> RtlDesign:
    """Build the Verilog for a kiln IR graph.

    Args:
        graph: A checked chain Input -> layers, each of a kind the graph's io type builds
            (``PIPELINES``: every IR node kind in io_parallel and io_stream; a softmax over
            one pixel), Dense and Conv layers folded by their reuse factors.

    Returns:
        One file per stage module plus ``kiln_top.v``, and the contract (port widths, beats
        per sample, latency, II).

    Raises:
        UnsupportedLayerError: A layer kind kiln.rtl does not build in the graph's io type,
            or a softmax over many pixels.
        KilnError: A graph of another io type, or with no layers.
    """
    pipeline = _check_buildable(graph)
    layers = pipeline.layer_stages(graph)
    stages = [s for _, sts in layers for s in sts]
    contract = _contract(graph, pipeline, layers)
    top = _top(graph, stages, contract, pipeline.tlast_travels)
    files = {f"{m.name}.v": m.emit() for s in stages for m in _with_submodules(s.module)}
    files[f"{TOP}.v"] = top.emit()
    return RtlDesign(files, contract)
