"""The layer pipeline of ``kiln_top``: stages, their names, and how io_parallel builds them.

A :class:`LayerPipeline` turns the layers of a graph into :class:`Stage` modules, one
``emit`` function per IR node kind; kiln.rtl._top wraps the stages in the AXI4-Stream top.
io_parallel (:data:`PARALLEL`) is a stream of one beat per sample: each layer is one stage
over the whole sample. io_stream (kiln.rtl._stream) is a variant with one beat per pixel
that adds line buffers and zero padding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from kiln.artifact import TOP
from kiln.errors import UnsupportedLayerError
from kiln.ir import (
    NODE_KINDS,
    Cast,
    Conv,
    Dense,
    Elu,
    FixedType,
    Graph,
    Input,
    LeakyRelu,
    Lut,
    Node,
    Pad,
    Pool,
    Relu,
    SignThreshold,
    Softmax,
)
from kiln.rtl import _parallel_conv as parallel_conv
from kiln.rtl._builder import Module
from kiln.rtl._fold import emit_folded_dense
from kiln.rtl._layers import LayerRtl, emit_cast, emit_dense, emit_relu
from kiln.rtl._rectifiers import emit_elu, emit_leaky_relu
from kiln.rtl._sign import emit_sign_threshold
from kiln.rtl._tables import emit_lut, emit_softmax


@dataclass(frozen=True)
class Stage:
    """A module of the layer pipeline, between the stream into it and the stream out of it.

    Its ports say how the top connects it. Every stage has ``clk``, ``ce`` (it advances: the
    stream out of it is ready), ``x`` (the beat in) and ``y`` (the beat out). A stage with
    ``rst_n``, ``in_valid`` and ``out_valid`` keeps its own valid bits and may drop beats (a
    line buffer, a folded layer); any other stage's output is valid ``latency`` cycles of
    ``ce`` after its input, and the top delays the valid bit (and a travelling tlast)
    alongside. A stage with a ``hold`` output cannot take a beat while ``hold`` is high (a
    folded layer computing, zero padding adding beats): the stream into it is not ready.

    Attributes:
        module: The stage's module.
        latency: Cycles of ``ce`` from a beat in to the beat out.
        trailing: Beats the stage emits after a frame's last input beat.
        interval: Cycles between the beats it takes at full rate (a folded layer's R).
        timing_exact: Whether ``latency`` and ``interval`` are exact at full rate (False for
            zero padding, whose stages can hold one another up).
    """

    module: Module
    latency: int
    trailing: int = 0
    interval: int = 1
    timing_exact: bool = True

    @classmethod
    def of(cls, layer: LayerRtl) -> Stage:
        """The stage of a layer module (ports clk, ce, x, y)."""
        return cls(layer.module, layer.latency)

    def has(self, port: str) -> bool:
        """Whether the stage's module has ``port``."""
        return any(p.name == port for p in self.module.ports)


#: Builds a node's stages from the node (of the kind it is listed for), the node it reads,
#: and a module name.
StageEmitter = Callable[..., list[Stage]]
N = TypeVar("N", bound=Node)


def layer(emit: Callable[[N, FixedType, str], LayerRtl]) -> Callable[[N, Node, str], list[Stage]]:
    """A layer emitter (``emit_<kind>(node, in_type, name)``) as a one-stage emitter."""

    def stages(node: N, previous: Node, name: str) -> list[Stage]:
        return [Stage.of(emit(node, previous.out_type, name))]

    return stages


def dense_stage(node: Dense, in_type: FixedType, name: str, relu: Relu | None = None,
                channels: int | None = None) -> Stage:
    """A Dense layer's stage: fully unrolled (reuse factor 1, with the ReLU after it built
    in when given) or folded in time (``channels``: a depthwise convolution's, whose
    folded multipliers gather their taps, see :func:`emit_folded_dense`)."""
    if node.reuse_factor == 1:
        return Stage.of(emit_dense(node, in_type, name, relu))
    assert relu is None, "kiln.rtl fuses a ReLU into unfolded layers only"
    r = node.reuse_factor
    return Stage(emit_folded_dense(node, in_type, name, r, channels), latency=r + 2,
                 interval=r)


def fuses_relu(node: Node, following: Node | None) -> bool:
    """Whether ``following`` is a ReLU that kiln.rtl builds into ``node``'s stage: after an
    unfolded Dense or Conv, which then registers the ReLU's narrow result, not its own."""
    return (isinstance(node, Dense | Conv) and node.reuse_factor == 1
            and isinstance(following, Relu))


def _dense_stages(node: Dense, previous: Node, name: str, relu: Relu | None = None
                  ) -> list[Stage]:
    return [dense_stage(node, previous.out_type, name, relu)]


def module_names(nodes: list[Node]) -> list[str]:
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


@dataclass(frozen=True)
class LayerPipeline:
    """How kiln.rtl builds the layers of one io type.

    Attributes:
        io_type: The hls4ml io type.
        emitters: Every IR node kind and the stages it builds; None: not in this io type
            (an :class:`Input` has no stage).
        beat: A node's output as (beats per sample, elements per beat).
        tlast_travels: Whether ``tlast`` travels with each beat from input to output, else
            it marks the last output beat of each frame and ``s_axis_tlast`` is ignored.
    """

    io_type: str
    emitters: Mapping[type[Node], StageEmitter | None]
    beat: Callable[[Node], tuple[int, int]]
    tlast_travels: bool

    def __post_init__(self) -> None:
        assert set(self.emitters) == set(NODE_KINDS), (
            f"kiln.rtl's {self.io_type} dispatch must list every IR node kind")

    def supported_kinds(self) -> list[str]:
        """The layer kinds this io type builds (besides the input)."""
        return [cls.kind for cls, emit in self.emitters.items() if emit is not None]

    def emitter(self, node: Node) -> StageEmitter:
        """The stage emitter of ``node``'s kind.

        Raises:
            UnsupportedLayerError: A kind this io type does not build.
        """
        emit = self.emitters.get(type(node))
        if emit is None:
            raise UnsupportedLayerError(
                f"kiln.rtl cannot build layer {node.name!r} of kind {node.kind!r} in "
                f"{self.io_type}: supported kinds are {', '.join(self.supported_kinds())} "
                "(after one input). Remove or replace the layer, or build this model through "
                "the HLS path (kiln.hls)."
            )
        return emit

    def layer_stages(self, graph: Graph) -> list[tuple[Node, list[Stage]]]:
        """Every layer after the graph's input with its stages, in order; a ReLU built into
        the layer before it (:func:`fuses_relu`) has none."""
        nodes = list(graph.nodes[1:])
        out: list[tuple[Node, list[Stage]]] = []
        previous = graph.input
        fused: Node | None = None
        for k, (node, name) in enumerate(zip(nodes, module_names(nodes), strict=True)):
            if node is fused:
                out.append((node, []))
            elif fuses_relu(node, following := nodes[k + 1] if k + 1 < len(nodes) else None):
                out.append((node, self.emitter(node)(node, previous, name, relu=following)))
                fused = following
            else:
                out.append((node, self.emitter(node)(node, previous, name)))
            previous = node
        return out

    def frame_cycles(self, node: Node, stages: list[Stage]) -> int:
        """Cycles a layer needs per sample at full rate: a beat per cycle, or a folded
        stage's interval per output beat."""
        beats = self.beat(node)[0]
        return beats * max((s.interval for s in stages), default=1)


def _one_beat(node: Node) -> tuple[int, int]:
    return 1, node.size


#: io_parallel: one beat per sample, fully unrolled layers; tlast travels with its sample.
PARALLEL = LayerPipeline(
    io_type="io_parallel",
    emitters={
        Input: None,
        Dense: _dense_stages,
        Relu: layer(emit_relu),
        Cast: layer(emit_cast),
        Lut: layer(emit_lut),
        Softmax: layer(emit_softmax),
        Conv: parallel_conv.conv_stages,
        Pool: parallel_conv.pool_stages,
        Pad: parallel_conv.pad_stages,
        LeakyRelu: layer(emit_leaky_relu),
        Elu: layer(emit_elu),
        SignThreshold: layer(emit_sign_threshold),
    },
    beat=_one_beat,
    tlast_travels=True,
)
