"""kiln IR graph (io_stream) -> the stages of a stream of pixels: one beat per pixel with all
its channels.

The stages are the io_parallel layer modules (kiln.rtl._layers, kiln.rtl._tables) applied to
one pixel, plus line buffers (kiln.rtl._linebuffer) in front of every convolution, pooling
and frame-collecting Dense layer: a convolution is a window followed by a fully unrolled
Dense over that window, one output pixel per cycle. Pixels that complete no window leave
bubbles (valid low) behind them; zero padding emits more pixels than it takes. The top
(kiln.rtl._top) marks the last pixel of each output frame with ``m_axis_tlast``;
``s_axis_tlast`` is not needed (frames have a fixed size) and is ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from kiln.errors import UnsupportedLayerError
from kiln.ir import (
    Cast,
    Conv,
    Dense,
    Elu,
    FixedType,
    Input,
    LeakyRelu,
    Lut,
    Node,
    Pad,
    Pool,
    Relu,
    SignThreshold,
    Softmax,
    spatial,
)
from kiln.rtl._emit import LayerPipeline, Stage, dense_stage
from kiln.rtl._fifo import emit_fifo, front_fifo_depth
from kiln.rtl._layers import LayerRtl, emit_cast, emit_dense, emit_relu
from kiln.rtl._linebuffer import PadGeometry, WindowGeometry, emit_pad, emit_window
from kiln.rtl._pool_ops import emit_average_divide, emit_max_pool
from kiln.rtl._pool_ops import reciprocal as reciprocal  # where tests/cnn read it
from kiln.rtl._rectifiers import emit_elu, emit_leaky_relu
from kiln.rtl._sign import emit_sign_threshold
from kiln.rtl._tables import emit_lut, emit_softmax

N = TypeVar("N", bound=Node)


def _pixel_beat(node: Node) -> tuple[int, int]:
    """(pixels, channels) of a node's output."""
    rows, cols, channels = spatial(node.shape)
    return rows * cols, channels


def _window_stage(name: str, previous: Node, kernel: tuple[int, int],
                  stride: tuple[int, int], what: str) -> Stage:
    rows, cols, channels = spatial(previous.shape)
    g = WindowGeometry(rows, cols, channels, previous.out_type.width, kernel, stride)
    comment = (f"kiln.rtl: line buffer of {what}: {rows}x{cols}x{channels} {previous.out_type} "
               f"pixels, {kernel[0]}x{kernel[1]} windows, stride {stride}.\n"
               "Generated; do not edit.")
    return Stage(emit_window(f"{name}_window", g, comment), 1)


def _behind_fifo(stages: list[Stage], node: Node, previous: Node, name: str) -> list[Stage]:
    """``stages`` with the FIFO kiln.rtl puts in front of a folded layer, if it gets one
    (kiln.rtl._fifo says which and why)."""
    depth = front_fifo_depth(node, previous)
    if depth is None:
        return stages
    _, channels = _pixel_beat(previous)
    comment = (f"kiln.rtl: FIFO of {depth} {channels} x {previous.out_type} pixels in front "
               f"of the folded layer {node.name!r}.\nGenerated; do not edit.")
    fifo = emit_fifo(f"{name}_fifo", channels * previous.out_type.width, depth, comment)
    return [Stage(fifo, 2), *stages]


def _pool_stages(node: Pool, previous: Node, name: str) -> list[Stage]:
    """Line buffer, then max (one stage) or sum (a Dense) and divide."""
    channels = spatial(previous.shape)[2]
    window = _window_stage(name, previous, node.kernel, node.stride, f"pool {node.name!r}")
    if node.op == "max":
        count = node.kernel[0] * node.kernel[1]
        windows = [[k * channels + ch for k in range(count)] for ch in range(channels)]
        return [window, Stage.of(emit_max_pool(node, previous.out_type, count * channels,
                                               windows, name))]
    total = emit_dense(node.window_sum(), previous.out_type, f"{name}_sum")
    return [window, Stage.of(total), Stage.of(emit_average_divide(node, channels, name))]


def _conv_stages(node: Conv, previous: Node, name: str, relu: Relu | None = None
                 ) -> list[Stage]:
    """Line buffer, then a Dense over the window (and the ReLU after it, per pixel); folded,
    behind a FIFO."""
    pixel = None if relu is None else dataclasses.replace(relu, shape=(spatial(relu.shape)[2],))
    dense = dense_stage(node.pixel_dense(), previous.out_type, name, pixel,
                        channels=node.shape[-1] if node.gathers_taps else None)
    window = _window_stage(name, previous, node.kernel, node.stride, f"conv {node.name!r}")
    return _behind_fifo([window, dense], node, previous, name)


def _pad_stages(node: Pad, previous: Node, name: str) -> list[Stage]:
    rows, cols, channels = spatial(previous.shape)
    g = PadGeometry(rows, cols, node.pads)
    comment = (f"kiln.rtl: layer {node.name!r} (zero padding {node.pads}, top, bottom, "
               f"left, right) of {rows}x{cols}x{channels} {previous.out_type} pixels.\n"
               "Generated; do not edit.")
    module = emit_pad(name, g, channels, previous.out_type, node.out_type, comment)
    return [Stage(module, 2, g.trailing, timing_exact=False)]


def _dense_stages(node: Dense, previous: Node, name: str, relu: Relu | None = None
                  ) -> list[Stage]:
    """The Dense (and the ReLU after it), after a line buffer that collects the frame
    unless it is one pixel; folded, behind a FIFO (which ends the enable path)."""
    dense = dense_stage(node, previous.out_type, name, relu)
    rows, cols, _ = spatial(previous.shape)
    if rows * cols == 1:
        return [dense]
    window = _window_stage(name, previous, (rows, cols), (1, 1), f"flatten before "
                           f"{node.name!r}")
    return _behind_fifo([window, dense], node, previous, name)


def _softmax_stages(node: Softmax, previous: Node, name: str) -> list[Stage]:
    if _pixel_beat(previous)[0] != 1:
        raise UnsupportedLayerError(
            f"kiln.rtl cannot stream layer {node.name!r} of kind {node.kind!r} over "
            f"{previous.shape}: io_stream builds softmax on a single pixel only."
        )
    return [Stage.of(emit_softmax(node, previous.out_type, name))]


def _per_pixel(emit: Callable[[N, FixedType, str], LayerRtl]
               ) -> Callable[[N, Node, str], list[Stage]]:
    """An elementwise layer emitter applied to one pixel (its channels)."""

    def stages(node: N, previous: Node, name: str) -> list[Stage]:
        pixel = dataclasses.replace(node, shape=(spatial(node.shape)[2],))
        return [Stage.of(emit(pixel, previous.out_type, name))]

    return stages


#: io_stream: one beat per pixel, line buffers in front of windows; tlast counted per frame.
STREAM = LayerPipeline(
    io_type="io_stream",
    emitters={
        Input: None,
        Dense: _dense_stages,
        Relu: _per_pixel(emit_relu),
        Cast: _per_pixel(emit_cast),
        Lut: _per_pixel(emit_lut),
        Softmax: _softmax_stages,
        Conv: _conv_stages,
        Pool: _pool_stages,
        Pad: _pad_stages,
        LeakyRelu: _per_pixel(emit_leaky_relu),
        Elu: _per_pixel(emit_elu),
        SignThreshold: _per_pixel(emit_sign_threshold),
    },
    beat=_pixel_beat,
    tlast_travels=False,
)
