"""kiln's IR: frozen, typed layer nodes with integer weights.

kiln.frontend lowers an hls4ml ModelGraph into a :class:`Graph` once; kiln.rtl, kiln.fixed
and the reports read only these nodes. Arrays are stored read-only so nodes cannot change
after construction; change a node with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from kiln.ir._types import FixedType

#: Integer codes (weights, biases, tables): read-only int64 arrays.
Codes = NDArray[np.int64]

# Half-width of the input interval each Lut table spans (nnet_activation.h): sigmoid's table
# covers [-8, 8), tanh's [-4, 4).
LUT_IN_RANGE = {"sigmoid": 8, "tanh": 4}
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency")


def ceillog2(x: int) -> int:
    """nnet::ceillog2: the address bits of a table of ``x`` entries (1 for x <= 2)."""
    return 1 if x <= 2 else 1 + ceillog2((x + 1) // 2)


def frozen_codes(values: object) -> Codes:
    """An int64 read-only copy of ``values``."""
    array = np.array(values, dtype=np.int64)
    array.setflags(write=False)
    return array


#: Adder levels between pipeline registers of an unfolded Dense or Conv (and of kiln.rtl's
#: other adder trees). Two: on ECP5 the Fmax falls steadily from 3 levels on, while 1 level
#: doubles the registers and the latency for an Fmax within nextpnr's seed-to-seed spread
#: of 2's (docs/hardware-cost.md).
DEFAULT_ADDER_LEVELS = 2


@dataclass(frozen=True, eq=False)
class Node:
    """One layer: its name, the name of the node it reads, its output shape and type."""

    kind: ClassVar[str] = "node"
    name: str
    source: str
    shape: tuple[int, ...]
    out_type: FixedType

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        parts = [f"{self.kind} {self.name}({self.source}) -> {self.out_type} x{list(self.shape)}"]
        for f in fields(self):
            if f.name in ("name", "source", "shape", "out_type"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = f"int64{list(value.shape)}"
            parts.append(f"{f.name}={value}")
        return " ".join(parts)


@dataclass(frozen=True, eq=False, repr=False)
class Input(Node):
    """The model input; ``source`` is empty."""

    kind: ClassVar[str] = "input"


@dataclass(frozen=True, eq=False, repr=False)
class Dense(Node):
    """``y = cast_out(sum_i cast_acc(x_i * w_ij) + cast_acc(b_j))`` as hls4ml's dense_latency
    and dense_resource.

    ``weight`` has shape (n_in, n_out) in codes of ``weight_type``; ``bias`` (n_out,) in
    codes of ``bias_type``. The accumulator must wrap (see kiln.ir.check), so the order of
    the sum changes nothing. ``reuse_factor`` R folds the layer in time: about
    ``n_in * n_out / R`` multipliers, a sample every R cycles (one of
    :func:`valid_reuse_factors`). ``adder_levels``: adder levels between pipeline registers
    of the unfolded layer (more: fewer registers and cycles, a longer path per cycle).
    ``lut_multipliers``: a folded layer's multipliers are built as shifted adds in logic,
    not as multiplications that synthesis maps to DSP blocks (for when the blocks run out).
    """

    kind: ClassVar[str] = "dense"
    weight: Codes = field(default_factory=lambda: frozen_codes([[0]]))
    bias: Codes = field(default_factory=lambda: frozen_codes([0]))
    weight_type: FixedType = FixedType(8, 1)
    bias_type: FixedType = FixedType(8, 1)
    accum_type: FixedType = FixedType(32, 16)
    reuse_factor: int = 1
    adder_levels: int = DEFAULT_ADDER_LEVELS
    lut_multipliers: bool = False

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[1])

    @property
    def fold_shape(self) -> tuple[int, int]:
        """(inputs, outputs) of the products a reuse factor folds (as :attr:`Conv.fold_shape`)."""
        return self.n_in, self.n_out


@dataclass(frozen=True, eq=False, repr=False)
class Relu(Node):
    """``y = cast_out(x if x > 0 else 0)``; quantized_relu is this with its result type."""

    kind: ClassVar[str] = "relu"


@dataclass(frozen=True, eq=False, repr=False)
class Cast(Node):
    """``y = cast_out(x)``: linear and quantized_bits activations."""

    kind: ClassVar[str] = "cast"


@dataclass(frozen=True, eq=False, repr=False)
class Lut(Node):
    """Elementwise table activation (sigmoid, tanh) as hls4ml's Vivado templates compute it.

    ``table`` (T entries, codes of ``table_type``) samples the function on [-R, R) with
    R = ``in_range`` (8 for sigmoid, 4 for tanh). The index is
    ``trunc(x * T / (2 R)) + T // 2`` (ap_fixed product, truncating division and int(),
    all toward zero; wrapped to 32-bit int), clamped to [0, T - 1]; the result is
    ``cast_out(table[index])``. kiln.fixed.lut_table builds the table, lut_codes runs it.
    """

    kind: ClassVar[str] = "lut"
    function: str = "sigmoid"
    in_range: int = 8
    table: Codes = field(default_factory=lambda: frozen_codes([0]))
    table_type: FixedType = FixedType(18, 8)


@dataclass(frozen=True, eq=False, repr=False)
class LeakyRelu(Node):
    """``y = cast_out(x if x > threshold else alpha_i * x)``: hls4ml's ``leaky_relu``,
    ``prelu`` and ``thresholded_relu`` (and QKeras's quantized_relu with a negative slope,
    which hls4ml converts to a leaky_relu).

    One node for the three because they differ only in constants: a leaky ReLU has one
    ``alpha`` and ``threshold`` 0, a PReLU one ``alpha`` per element (or per channel), a
    thresholded ReLU ``alpha`` 0 and its ``theta`` as ``threshold``. The comparison is
    exact and strict (``>``, as hls4ml's C++): ``x`` equal to the threshold takes the
    ``alpha`` branch. ``alpha * x`` is the exact product of the codes (ap_fixed's product
    type), cast to ``out_type`` once, with its rounding and overflow.

    ``alpha`` holds codes of ``alpha_type``: one for every element, or (length L > 1) the
    element ``i`` of the flattened tensor reads ``alpha[i % L]`` (L = the channels: one
    per channel, the same for every pixel). ``threshold`` is a code of ``threshold_type``.
    """

    kind: ClassVar[str] = "leaky_relu"
    alpha: Codes = field(default_factory=lambda: frozen_codes([0]))
    alpha_type: FixedType = FixedType(8, 1)
    threshold: int = 0
    threshold_type: FixedType = FixedType(8, 1)

    def alpha_at(self, index: int) -> int:
        """The alpha code of flattened element ``index``."""
        return int(self.alpha[index % len(self.alpha)])

    def threshold_code(self, in_type: FixedType) -> int:
        """The largest input code ``x`` (of ``in_type``) at or below the threshold: the
        exact comparison ``x > threshold`` is ``x > threshold_code``."""
        shift = in_type.frac - self.threshold_type.frac
        # x * 2**-fx > t * 2**-ft  <=>  x > t * 2**(fx - ft), and x is an integer: floor it
        return self.threshold << shift if shift >= 0 else self.threshold >> -shift


#: The type of a binary or ternary activation's result: -1, 0 and +1 (hls4ml's ap_int<2>).
SIGN_TYPE = FixedType(2, 2)


@dataclass(frozen=True, eq=False, repr=False)
class SignThreshold(Node):
    """A binary or ternary activation: ``y = (x > upper_i) - (x <= lower_i)`` on the input
    codes, so ``y`` is +1, 0 or -1 (``out_type`` is :data:`SIGN_TYPE`).

    QKeras's ``binary``, ``binary_tanh`` and ``ternary`` quantizers, with any per-channel
    affine map between the last sum and them (a BatchNormalization, the kernel quantizer's
    ``alpha`` scale, the bias) folded into the two thresholds by the front end, as hls4ml's
    ``BatchNormalizationQuantizedTanh`` (ternary form: ``x > hi ? 1 : x <= lo ? -1 : 0``)
    computes it. ``lower == upper`` is a binary activation (never 0). A channel whose map
    is decreasing has its sum negated in the layer before, so both comparisons keep this
    direction.

    ``upper`` and ``lower`` hold codes of the input type, one per element or (length L)
    the element ``i`` of the flattened tensor reads ``[i % L]`` (L = the channels).
    """

    kind: ClassVar[str] = "sign_threshold"
    upper: Codes = field(default_factory=lambda: frozen_codes([0]))
    lower: Codes = field(default_factory=lambda: frozen_codes([0]))

    def thresholds_at(self, index: int) -> tuple[int, int]:
        """``(upper, lower)`` of flattened element ``index``."""
        return int(self.upper[index % len(self.upper)]), int(self.lower[index % len(self.lower)])


#: hls4ml's ELU table spans the inputs [-8, 0).
ELU_IN_RANGE = 8


@dataclass(frozen=True, eq=False, repr=False)
class Elu(Node):
    """hls4ml's ``elu``: ``y = cast_out(x)`` for ``x >= 0``, else
    ``cast_out(alpha * table[min(int(x * T / -8), T - 1)])``.

    A node of its own, not a :class:`Lut`: the comparison (``>=``), the index (a one-sided
    table over [-8, 0), clamped at the top only) and the scale ``alpha`` all differ from
    sigmoid's and tanh's. ``table`` (T entries, codes of ``table_type``) holds
    ``exp(v) - 1`` at ``v = -8 i / T``; the index is ``x * T / -8`` in exact ap_fixed
    arithmetic, truncated to an int (toward zero; the value is positive). ``alpha`` is a
    code of ``alpha_type``; ``alpha * table[i]`` is the exact product, cast once.
    kiln.fixed.elu_table builds the table.
    """

    kind: ClassVar[str] = "elu"
    table: Codes = field(default_factory=lambda: frozen_codes([0]))
    table_type: FixedType = FixedType(18, 8)
    alpha: int = 1
    alpha_type: FixedType = FixedType(8, 2)

    @staticmethod
    def index_shifts(in_type: FixedType) -> tuple[int, int]:
        """``(down, up)`` with ``int(x * T / -8) == ((-code * T) >> down) << up`` for a
        negative input code of ``in_type``: ap_fixed multiplies exactly, divides the
        product's code by the int -8 truncating toward zero at the product's LSB (a floor:
        the quotient is positive), and int() drops the fractional bits (or appends the zeros
        of a type with none)."""
        return (ELU_IN_RANGE.bit_length() - 1) + max(in_type.frac, 0), max(-in_type.frac, 0)


@dataclass(frozen=True, eq=False, repr=False)
class Softmax(Node):
    """hls4ml's softmax ('stable' or 'latency' implementation) with its exact tables and types.

    Each table is addressed by the top ``ceillog2(len(table))`` bits of a code (its table
    size must be a power of two no wider than the addressing type): ``exp_table`` by
    ``inp_norm_type`` codes of ``x_max - x`` ('stable') or by the input codes ('latency'),
    ``inv_table`` by ``inv_inp_type`` codes of the sum. The sum is hls4ml's reduce tree in
    ``accum_type``; the result is ``cast_out(exp * inv)``. ``inp_norm_type`` is unused by
    'latency'. kiln.fixed.softmax_tables builds the tables, softmax_codes runs the layer.
    """

    kind: ClassVar[str] = "softmax"
    implementation: str = "stable"
    exp_table: Codes = field(default_factory=lambda: frozen_codes([0]))
    inv_table: Codes = field(default_factory=lambda: frozen_codes([0]))
    exp_table_type: FixedType = FixedType(18, 8, True, "RND", "SAT")
    inv_table_type: FixedType = FixedType(18, 8, True, "RND", "SAT")
    accum_type: FixedType = FixedType(18, 8, True, "RND", "SAT")
    inv_inp_type: FixedType = FixedType(18, 8, True, "RND", "SAT")
    inp_norm_type: FixedType = FixedType(17, 6, False)


@dataclass(frozen=True, eq=False, repr=False)
class Conv(Node):
    """A 2D convolution over channel-last pixels (1D: height 1), 'valid' padding, as hls4ml's
    io_stream line-buffer convolution: each output pixel is a :class:`Dense` over its window.

    The window of an output pixel is the ``kernel`` rows x cols x input channels starting at
    ``stride * (row, col)``, flattened in that order (Keras's kernel layout). ``weight`` has
    shape (window size, output channels); a depthwise convolution is stored with its
    block-diagonal weight (zero where an input channel does not feed an output channel).
    ``shape`` is (rows, cols, channels) of the output, or (cols, channels) for 1D.
    ``reuse_factor`` folds the window's Dense in time, as :class:`Dense`'s does (R cycles
    per output pixel); ``adder_levels`` and ``lut_multipliers`` as in :class:`Dense`.
    ``depthwise``: the weight is block-diagonal (output channel c reads input channel c
    only); a fold schedules its ``kernel`` products per channel (:meth:`fold_shape`), not
    the zeros.
    """

    kind: ClassVar[str] = "conv"
    weight: Codes = field(default_factory=lambda: frozen_codes([[0]]))
    bias: Codes = field(default_factory=lambda: frozen_codes([0]))
    weight_type: FixedType = FixedType(8, 1)
    bias_type: FixedType = FixedType(8, 1)
    accum_type: FixedType = FixedType(32, 16)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    reuse_factor: int = 1
    adder_levels: int = DEFAULT_ADDER_LEVELS
    lut_multipliers: bool = False
    depthwise: bool = False

    @property
    def fold_shape(self) -> tuple[int, int]:
        """(inputs, outputs) of the Dense a reuse factor folds: the window's, or for a
        depthwise convolution one channel's taps for each of its channels."""
        if self.depthwise:
            return self.kernel[0] * self.kernel[1], int(self.weight.shape[1])
        n_in, n_out = self.weight.shape
        return int(n_in), int(n_out)

    @property
    def gathers_taps(self) -> bool:
        """A folded depthwise convolution: each channel's multipliers gather its own taps
        from the window (kiln.rtl._fold), so :meth:`pixel_dense` holds only the taps."""
        return self.depthwise and self.reuse_factor > 1

    def pixel_dense(self) -> Dense:
        """The Dense kiln.rtl builds for one output pixel: :meth:`window_dense`, or when the
        convolution :attr:`gathers_taps`, one weight per tap and channel (taps, channels),
        tap t of channel c reading window element ``t * channels + c``."""
        dense = self.window_dense()
        if not self.gathers_taps:
            return dense
        channels = int(self.weight.shape[1])
        index = np.arange(self.kernel[0] * self.kernel[1])[:, None] * channels \
            + np.arange(channels)[None, :]
        taps = np.take_along_axis(np.asarray(self.weight), index, axis=0)
        return replace(dense, weight=frozen_codes(taps))

    def window_dense(self) -> Dense:
        """The Dense layer that computes one output pixel from its flattened window."""
        return Dense(name=self.name, source=self.source, shape=(self.shape[-1],),
                     out_type=self.out_type, weight=self.weight, bias=self.bias,
                     weight_type=self.weight_type, bias_type=self.bias_type,
                     accum_type=self.accum_type, reuse_factor=self.reuse_factor,
                     adder_levels=self.adder_levels, lut_multipliers=self.lut_multipliers)


POOL_OPS = ("max", "average")


@dataclass(frozen=True, eq=False, repr=False)
class Pool(Node):
    """Max or average pooling over ``kernel`` windows every ``stride`` pixels, per channel
    ('valid'), as hls4ml's io_stream pooling. Shapes as :class:`Conv`; a global pooling is one
    window over the whole image.

    ``op="max"``: ``y = cast_out(max(window))``. ``op="average"``: every element is cast to
    ``accum_type``, summed there (wrapping), divided by the window size truncating toward
    zero at the accumulator's LSB (ap_fixed's ``/ int``), then ``y = cast_out(quotient)``.
    """

    kind: ClassVar[str] = "pool"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    op: str = "max"
    accum_type: FixedType = FixedType(32, 16)

    @property
    def window_size(self) -> int:
        return self.kernel[0] * self.kernel[1]

    def window_sum(self) -> Dense:
        """The Dense layer that sums each channel over a flattened window into
        ``accum_type``: weight 1 from (element k, channel c) to output c. Its products are
        cast to the accumulator and summed wrapping, as hls4ml sums a pooling window."""
        channels = self.shape[-1]
        weight = np.tile(np.eye(channels, dtype=np.int64), (self.window_size, 1))
        one = FixedType(2, 2)
        return Dense(name=self.name, source=self.source, shape=(channels,),
                     out_type=self.accum_type, weight=frozen_codes(weight),
                     bias=frozen_codes(np.zeros(channels, dtype=np.int64)), weight_type=one,
                     bias_type=one, accum_type=self.accum_type)


@dataclass(frozen=True, eq=False, repr=False)
class Pad(Node):
    """Zero padding around the image, as hls4ml inserts before a 'same' convolution:
    ``pads`` rows above and below, columns left and right; ``y = cast_out(x)`` inside."""

    kind: ClassVar[str] = "pad"
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right


def spatial(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(rows, cols, channels) of a channel-last tensor shape; 1D and flat shapes have one row
    (and a flat one is a single pixel)."""
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    return 1, 1, int(np.prod(shape))


NODE_KINDS: tuple[type[Node], ...] = (Input, Dense, Relu, Cast, Lut, Softmax, Conv, Pool, Pad,
                                      LeakyRelu, Elu, SignThreshold)


def is_valid_reuse_factor(n_in: int, n_out: int, reuse: int) -> bool:
    """Whether ``reuse`` folds an ``n_in`` x ``n_out`` Dense: hls4ml's rule
    (``FPGABackend._validate_reuse_factor``): ``reuse`` divides ``n_in``, or it is a multiple
    of ``n_in`` that divides ``n_in * n_out``."""
    if reuse < 1 or (n_in * n_out) % reuse:
        return False
    return n_in % reuse == 0 if reuse < n_in else reuse % n_in == 0


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Every reuse factor of an ``n_in`` x ``n_out`` Dense, ascending."""
    return [r for r in range(1, n_in * n_out + 1) if is_valid_reuse_factor(n_in, n_out, r)]


@dataclass(frozen=True, eq=False)
class Graph:
    """A chain of nodes from one :class:`Input` to the last node (the output)."""

    name: str
    nodes: tuple[Node, ...]
    io_type: str = "io_parallel"

    @property
    def reuse_factor(self) -> int:
        """The largest reuse factor of any layer (1: nothing is folded)."""
        return max((n.reuse_factor for n in self.nodes if isinstance(n, Dense | Conv)),
                   default=1)

    @property
    def input(self) -> Node:
        return self.nodes[0]

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def __repr__(self) -> str:
        head = f"graph {self.name} {self.io_type}"
        return "\n".join([head, *(f"  {n!r}" for n in self.nodes)])


def with_adder_levels(graph: Graph, levels: int) -> Graph:
    """``graph`` with every Dense and Conv built at ``levels`` adder levels per stage."""
    return replace(graph, nodes=tuple(
        replace(n, adder_levels=levels) if isinstance(n, Dense | Conv) else n
        for n in graph.nodes))


def with_lut_multipliers(graph: Graph, names: Collection[str]) -> Graph:
    """``graph`` with the folded Dense and Conv layers ``names`` names built with their
    multipliers in logic (:attr:`Dense.lut_multipliers`)."""
    return replace(graph, nodes=tuple(
        replace(n, lut_multipliers=True) if isinstance(n, Dense | Conv) and n.name in names
        else n for n in graph.nodes))
