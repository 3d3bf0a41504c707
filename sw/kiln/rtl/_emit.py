"""kiln IR graph -> Verilog: one module per layer and the AXI4-Stream top ``kiln_top``.

The top holds a valid bit and a tlast bit per pipeline stage. The whole pipeline advances
on ``ce = m_axis_tready | ~out_valid``: when the output holds a sample nobody takes,
everything stalls, so nothing is dropped, duplicated or reordered. ``s_axis_tready`` is
``rst_n & ce`` (combinational from ``m_axis_tready``). The active-low synchronous reset
clears every valid bit; while it is asserted neither port hands anything over.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kiln.errors import KilnError, UnsupportedLayerError
from kiln.ir import (
    NODE_KINDS,
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
)
from kiln.rtl._builder import Expr, Module, Signal, concat, const
from kiln.rtl._design import TOP, RtlDesign, RtlMeta
from kiln.rtl._layers import LayerRtl, emit_cast, emit_dense, emit_relu
from kiln.rtl._tables import emit_lut, emit_softmax

Emitter = Callable[[Node, FixedType, str], LayerRtl]

# Every IR node kind, and how kiln.rtl builds it: None means not yet (Input has no module of
# its own). A new kind gets an ``emit_<kind>(node, in_type, module_name) -> LayerRtl`` that
# builds a module with ports clk, ce, x, y and states its latency (see kiln.rtl._layers).
EMITTERS: dict[type[Node], Emitter | None] = {
    Input: None,
    Dense: emit_dense,  # type: ignore[dict-item]
    Relu: emit_relu,  # type: ignore[dict-item]
    Cast: emit_cast,  # type: ignore[dict-item]
    Lut: emit_lut,  # type: ignore[dict-item]
    Softmax: emit_softmax,  # type: ignore[dict-item]
    Conv: None,  # io_stream only: kiln.rtl._stream
    Pool: None,  # io_stream only: kiln.rtl._stream
    Pad: None,  # io_stream only: kiln.rtl._stream
}
assert set(EMITTERS) == set(NODE_KINDS), "kiln.rtl's dispatch must list every IR node kind"


def supported_kinds() -> list[str]:
    """The layer kinds kiln.rtl builds (besides the input)."""
    return [cls.kind for cls, emitter in EMITTERS.items() if emitter is not None]


def _emitter(node: Node) -> Emitter:
    emitter = EMITTERS.get(type(node))
    if emitter is None:
        raise UnsupportedLayerError(
            f"kiln.rtl cannot build layer {node.name!r} of kind {node.kind!r}: "
            f"supported kinds are {', '.join(supported_kinds())} (after one input). "
            "Remove or replace the layer, or build this model through the HLS path (kiln.hls)."
        )
    return emitter


def _module_names(nodes: list[Node]) -> list[str]:
    """``kiln_<node name>`` as a Verilog identifier, unique (also ignoring case)."""
    names: list[str] = []
    taken = {TOP.lower()}
    for index, node in enumerate(nodes):
        name = "kiln_" + re.sub(r"\W", "_", node.name, flags=re.ASCII)
        if name.lower() in taken:
            name = f"{name}_{index}"
        taken.add(name.lower())
        names.append(name)
    return names


def _check_buildable(graph: Graph) -> None:
    check_graph(graph)
    if graph.io_type != "io_parallel" or graph.reuse_factor != 1:
        raise KilnError(
            f"Graph {graph.name!r} is {graph.io_type} with reuse factor {graph.reuse_factor}; "
            "kiln.rtl builds io_parallel graphs with reuse factor 1. Convert with "
            "io_type='io_parallel' and ReuseFactor=1."
        )
    if len(graph.nodes) < 2:
        raise KilnError(f"Graph {graph.name!r} has no layer after its input; nothing to build")
    for node in graph.nodes[1:]:
        if isinstance(node, Input):
            raise KilnError(f"Graph {graph.name!r}: second input {node.name!r}")
        _emitter(node)


def _shift_in(m: Module, q: Signal, bit: Expr, clk: Signal, ce: Expr, rst_n: Signal) -> None:
    """``q <= {q[n-2:0], bit}`` on ``ce``, cleared by reset."""
    d = concat(q.ref().bits(0, q.width - 1), bit) if q.width > 1 else bit
    m.sync(q, d, clk, ce, reset=(rst_n.expr.logical_not(), const(0, q.width, False)))


def _top(graph: Graph, layers: list[LayerRtl], latency: int) -> Module:
    first, last = graph.input.out_type, graph.output.out_type
    m = Module(TOP, f"kiln.rtl: top of graph {graph.name!r}, latency {latency}, II 1.\n"
                    "Generated; do not edit.")
    clk = m.input("clk")
    rst_n = m.input("rst_n")
    s_tdata = m.input("s_axis_tdata", graph.input.size * first.width)
    s_tvalid = m.input("s_axis_tvalid")
    s_tready = m.output("s_axis_tready")
    s_tlast = m.input("s_axis_tlast")
    m_tdata = m.output("m_axis_tdata", graph.output.size * last.width)
    m_tvalid = m.output("m_axis_tvalid")
    m_tready = m.input("m_axis_tready")
    m_tlast = m.output("m_axis_tlast")
    valid = m.reg("valid_q", latency)
    tlast = m.reg("last_q", latency)
    out_valid = valid.ref().msb
    ce = m.wire("ce", m_tready.expr | ~out_valid).expr
    m.assign(s_tready, rst_n.expr & ce)
    m.assign(m_tvalid, rst_n.expr & out_valid)
    m.assign(m_tlast, tlast.ref().msb)
    _shift_in(m, valid, s_tvalid.expr, clk, ce, rst_n)
    _shift_in(m, tlast, s_tlast.expr, clk, ce, rst_n)
    data = s_tdata.expr
    for layer in layers:
        base = layer.module.name.removeprefix("kiln_")
        y = m.net(f"{base}_y", layer.module.ports[-1].width)
        m.instance(layer.module, f"u_{base}", clk=clk.expr, ce=ce, x=data, y=y.expr)
        data = y.expr
    m.assign(m_tdata, data)
    return m


def emit_rtl(graph: Graph) -> RtlDesign:
    """Build the Verilog for an io_parallel kiln IR graph.

    Args:
        graph: A checked chain Input -> layers (Dense, Relu, Cast, Lut, Softmax).

    Returns:
        One file per layer module plus ``kiln_top.v``, and the metadata (port widths,
        latency, II).

    Raises:
        UnsupportedLayerError: A layer kind kiln.rtl does not build.
        KilnError: A graph that is not io_parallel with reuse factor 1, or has no layers.
    """
    if graph.io_type == "io_stream":
        from kiln.rtl._stream import emit_stream_rtl

        return emit_stream_rtl(graph)
    _check_buildable(graph)
    nodes = list(graph.nodes[1:])
    layers = []
    in_type = graph.input.out_type
    for node, name in zip(nodes, _module_names(nodes), strict=True):
        layers.append(_emitter(node)(node, in_type, name))
        in_type = node.out_type
    latency = sum(layer.latency for layer in layers)
    top = _top(graph, layers, latency)
    files = {f"{layer.module.name}.v": layer.module.emit() for layer in layers}
    files[f"{TOP}.v"] = top.emit()
    first, last = graph.input, graph.output
    meta = RtlMeta(
        in_elems=first.size, in_width=first.out_type.width, in_signed=first.out_type.signed,
        out_elems=last.size, out_width=last.out_type.width, out_signed=last.out_type.signed,
        latency=latency, ii=1,
    )
    return RtlDesign(files, meta)
