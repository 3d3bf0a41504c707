"""Convolution, pooling and zero padding in io_parallel: one beat holds the whole sample
(rows x cols x channels, channels last, flattened as kiln.fixed and hls4ml flatten it), and
each layer is one fully unrolled stage over it.

A convolution is its per-pixel Dense (:meth:`Conv.pixel_dense`, hls4ml's conv_2d_latency_cl
arithmetic: products cast to the accumulator, summed with the bias, cast out) applied to
every output pixel's window of the beat: the window's Dense module (kiln.rtl._layers, its
adders shared within the window) instantiated once per output pixel. Pooling is the max of
each window, or the window sums (the same way) then kiln.rtl._pool_ops's division; padding
is wiring with zeros.
io_parallel builds these with reuse factor 1 only: folding a convolution is io_stream's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import kiln.rtl._emit as pipeline  # used at call time: kiln.rtl._emit imports this module
from kiln.errors import UnsupportedLayerError
from kiln.ir import Conv, Dense, FixedType, Node, Pad, Pool, Relu, spatial
from kiln.rtl._builder import Expr, Module, concat, const
from kiln.rtl._layers import LayerRtl, emit_dense
from kiln.rtl._pool_ops import emit_average_divide, emit_max_pool
from kiln.rtl._requantize import Value, requantize, requantize_const


def window_inputs(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                  kernel: tuple[int, int], stride: tuple[int, int]) -> list[list[int]]:
    """For each output pixel (row-major), the flat input indices of its window, in the
    window's order (rows, cols, channels: Keras's kernel layout, kiln.fixed's windows)."""
    rows, cols, channels = spatial(in_shape)
    out_rows, out_cols, _ = spatial(out_shape)
    image = np.arange(rows * cols * channels).reshape(rows, cols, channels)
    (kr, kc), (sr, sc) = kernel, stride
    return [image[r * sr:r * sr + kr, c * sc:c * sc + kc, :].reshape(-1).tolist()
            for r in range(out_rows) for c in range(out_cols)]


def emit_windows(dense: Dense, in_shape: tuple[int, ...], in_type: FixedType,
                 windows: list[list[int]], name: str, relu: Relu | None = None) -> LayerRtl:
    """``dense`` (a Dense over one window, and the ReLU after it) applied to every window of
    the beat: one module of the window's Dense (kiln.rtl._layers: its adders shared within a
    window), instantiated once per output pixel on that pixel's window; its outputs channels
    last, pixel after pixel. The latency is the window Dense's."""
    pixel = emit_dense(dense, in_type, f"{name}_pixel", relu)
    out_t = (relu or dense).out_type
    n_in = int(np.prod(in_shape))
    m = Module(name, f"kiln.rtl: layer {dense.name!r} over every window of {n_in} x "
                     f"{in_type}: {len(windows)} copies of {pixel.module.name}, "
                     f"{dense.n_out} x {out_t} each.\nGenerated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", n_in * in_type.width)
    y = m.output("y", len(windows) * dense.n_out * out_t.width)
    outputs: list[Expr] = []
    for p, window in enumerate(windows):
        taps = [x.ref().bits(k * in_type.width, in_type.width) for k in window]
        out = m.net(f"y_{p}", dense.n_out * out_t.width)
        m.instance(pixel.module, f"u_pixel_{p}", clk=clk.expr, ce=ce.expr,
                   x=concat(*reversed(taps)), y=out.expr)
        outputs.append(out.expr)
    m.assign(y, concat(*reversed(outputs)))
    return LayerRtl(m, pixel.latency)


def conv_stages(node: Conv, previous: Node, name: str, relu: Relu | None = None
                ) -> list[pipeline.Stage]:
    """The convolution over the whole sample (and the ReLU after it), fully unrolled."""
    if node.reuse_factor != 1:
        raise UnsupportedLayerError(
            f"Layer {node.name!r} (conv) has reuse factor {node.reuse_factor}: kiln.rtl builds "
            "convolutions in io_parallel fully unrolled (reuse factor 1) only. Fix: compile "
            "with io_type='io_stream' (kiln compile --io-type io_stream), which folds "
            "convolutions, or give this layer reuse factor 1."
        )
    windows = window_inputs(previous.shape, node.shape, node.kernel, node.stride)
    pixel = None if relu is None else dataclasses.replace(relu, shape=(node.shape[-1],))
    return [pipeline.Stage.of(emit_windows(node.pixel_dense(), previous.shape,
                                           previous.out_type, windows, name, pixel))]


def pool_stages(node: Pool, previous: Node, name: str) -> list[pipeline.Stage]:
    """Max of every window (one stage), or every window's sum (a Dense) then the division."""
    windows = window_inputs(previous.shape, node.shape, node.kernel, node.stride)
    channels = spatial(previous.shape)[2]
    if node.op == "max":
        per_output = [[window[k] for k in range(ch, len(window), channels)]
                      for window in windows for ch in range(channels)]
        return [pipeline.Stage.of(emit_max_pool(node, previous.out_type, previous.size,
                                                per_output, name))]
    sums = emit_windows(node.window_sum(), previous.shape, previous.out_type, windows,
                        f"{name}_sum")
    return [pipeline.Stage.of(sums),
            pipeline.Stage.of(emit_average_divide(node, node.size, name))]


def emit_pad(node: Pad, in_shape: tuple[int, ...], in_type: FixedType, name: str) -> LayerRtl:
    """``cast_out(x)`` inside, zeros around, registered: latency 1."""
    rows, cols, channels = spatial(in_shape)
    top, _, left, _ = node.pads
    out_rows, out_cols, _ = spatial(node.shape)
    t = node.out_type
    m = Module(name, f"kiln.rtl: layer {node.name!r} (zero padding {node.pads}, top, bottom, "
                     f"left, right) of {rows}x{cols}x{channels} {in_type} -> {t}.\n"
                     "Generated; do not edit.")
    clk = m.input("clk")
    ce = m.input("ce")
    x = m.input("x", rows * cols * channels * in_type.width)
    y = m.output("y", node.size * t.width)
    zero = const(requantize_const(0, in_type.frac, t), t.width, t.signed)
    outputs: list[Expr] = []
    for r in range(out_rows):
        for c in range(out_cols):
            inside = 0 <= r - top < rows and 0 <= c - left < cols
            for ch in range(channels):
                if not inside:
                    outputs.append(zero)
                    continue
                k = ((r - top) * cols + c - left) * channels + ch
                xi = x.ref().sub(k * in_type.width, in_type.width, in_type.signed)
                cast = requantize(m, Value.of(xi, in_type.frac), t, f"y_{k}")
                outputs.append(m.register(f"y_{k}", cast, clk, ce.expr).expr)
    m.assign(y, concat(*reversed(outputs)))
    return LayerRtl(m, 1)


def pad_stages(node: Pad, previous: Node, name: str) -> list[pipeline.Stage]:
    return [pipeline.Stage.of(emit_pad(node, previous.shape, previous.out_type, name))]

