"""Execute a kiln IR graph on integer codes with torch: the bit-exact reference model.

The same code runs on CPU and CUDA; every op follows hls4ml's Vivado templates and
ap_fixed casts (kiln.fixed.requantize), so its codes equal the HLS C simulation's.
"""

from __future__ import annotations

import torch

from kiln.errors import UnsupportedLayerError
from kiln.fixed._quantize import requantize
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
    spatial,
)

# Products of int64 codes are exact while |x|,|w| < 2**31; a Dense layer is split into input
# chunks so the (batch, chunk, n_out) product tensor stays small.
_PRODUCT_ELEMENTS = 1 << 24


# float64 holds every integer below 2**53 exactly, so a matrix product whose every partial
# sum stays below that is exact in any summation order (and runs on BLAS, not int64 loops).
_FLOAT64_EXACT = 1 << 53


def _exact_matmul(x: torch.Tensor, in_type: FixedType, w: torch.Tensor) -> torch.Tensor | None:
    """``x @ w`` in float64 when no partial sum can reach 2**53, else None."""
    x_peak = max(abs(in_type.min_code), abs(in_type.max_code))
    if x_peak * int(w.abs().sum(dim=0).max()) >= _FLOAT64_EXACT:
        return None
    return torch.round(x.double() @ w.double()).long()


def _dense(x: torch.Tensor, in_type: FixedType, node: Dense) -> torch.Tensor:
    w = torch.tensor(node.weight, device=x.device)
    acc_t = node.accum_type
    product_frac = in_type.frac + node.weight_type.frac
    acc = requantize(torch.tensor(node.bias, device=x.device), node.bias_type.frac, acc_t)
    acc = acc.expand(x.shape[0], -1).clone()
    # Where the accumulator keeps every fractional bit of a product, casting each product is
    # a shift and a wrap, and wrapping commutes with the sum: one matrix product does.
    summed = _exact_matmul(x, in_type, w) if acc_t.frac >= product_frac else None
    if summed is not None:
        acc += summed << (acc_t.frac - product_frac)
    else:
        chunk = max(1, _PRODUCT_ELEMENTS // max(1, x.shape[0] * node.n_out))
        for start in range(0, node.n_in, chunk):
            products = x[:, start:start + chunk, None] * w[None, start:start + chunk, :]
            acc += requantize(products, product_frac, acc_t).sum(dim=1)
    # The accumulator wraps (checked by kiln.ir.check_graph): wrapping once at the end equals
    # wrapping after every addition.
    acc = requantize(acc, acc_t.frac, acc_t)
    return requantize(acc, acc_t.frac, node.out_type)


def _windows(x: torch.Tensor, in_shape: tuple[int, ...], node: Conv | Pool) -> torch.Tensor:
    """Every output pixel's window (batch * out pixels, rows * cols * channels), flattened
    row, column, channel as hls4ml's line buffer hands it to the multiply."""
    rows, cols, channels = spatial(in_shape)
    (kr, kc), (sr, sc) = node.kernel, node.stride
    image = x.reshape(x.shape[0], rows, cols, channels)
    patches = image.unfold(1, kr, sr).unfold(2, kc, sc)  # (b, out_r, out_c, ch, kr, kc)
    return patches.permute(0, 1, 2, 4, 5, 3).reshape(-1, kr * kc * channels)


def _conv(x: torch.Tensor, in_type: FixedType, in_shape: tuple[int, ...],
          node: Conv) -> torch.Tensor:
    y = _dense(_windows(x, in_shape, node), in_type, node.window_dense())
    return y.reshape(x.shape[0], -1)


def _pool(x: torch.Tensor, in_type: FixedType, in_shape: tuple[int, ...],
          node: Pool) -> torch.Tensor:
    channels = spatial(in_shape)[2]
    windows = _windows(x, in_shape, node)
    if node.op == "average":
        sums = _dense(windows, in_type, node.window_sum())
        quotient = torch.div(sums, node.window_size, rounding_mode="trunc")
        y = requantize(quotient, node.accum_type.frac, node.out_type)
    else:
        maxima = windows.reshape(-1, node.window_size, channels).max(dim=1).values
        y = requantize(maxima, in_type.frac, node.out_type)
    return y.reshape(x.shape[0], -1)


def _pad(x: torch.Tensor, in_type: FixedType, in_shape: tuple[int, ...],
         node: Pad) -> torch.Tensor:
    rows, cols, channels = spatial(in_shape)
    top, bottom, left, right = node.pads
    image = x.reshape(x.shape[0], rows, cols, channels)
    padded = torch.nn.functional.pad(image, (0, 0, left, right, top, bottom))
    return requantize(padded.reshape(x.shape[0], -1), in_type.frac, node.out_type)


def _apply(node: Node, x: torch.Tensor, in_type: FixedType,
           in_shape: tuple[int, ...]) -> torch.Tensor:
    if isinstance(node, Dense):
        return _dense(x, in_type, node)
    if isinstance(node, Conv):
        return _conv(x, in_type, in_shape, node)
    if isinstance(node, Pool):
        return _pool(x, in_type, in_shape, node)
    if isinstance(node, Pad):
        return _pad(x, in_type, in_shape, node)
    if isinstance(node, Relu):
        return requantize(x.clamp(min=0), in_type.frac, node.out_type)
    if isinstance(node, Cast):
        return requantize(x, in_type.frac, node.out_type)
    if isinstance(node, Lut):
        from kiln.fixed._activations import lut_codes

        return lut_codes(x, in_type, node)
    if isinstance(node, Softmax):
        from kiln.fixed._activations import softmax_codes

        return softmax_codes(x, in_type, node)
    raise UnsupportedLayerError(
        f"kiln.fixed cannot execute node {node.name!r} of kind {node.kind!r}"
    )


def execute(graph: Graph, codes: torch.Tensor, trace: bool = False) -> dict[str, torch.Tensor]:
    """Run ``graph`` on input ``codes`` (int64, shape (batch, *input shape)).

    Returns the output codes under the key ``"output"`` and, with ``trace=True``, every
    node's output codes under its name.
    """
    x = codes.to(torch.int64).reshape(codes.shape[0], -1)
    in_type, in_shape = graph.input.out_type, graph.input.shape
    outputs: dict[str, torch.Tensor] = {}
    for node in graph.nodes:
        if not isinstance(node, Input):
            x = _apply(node, x, in_type, in_shape)
        in_type, in_shape = node.out_type, node.shape
        if trace:
            outputs[node.name] = x
    outputs["output"] = x
    return outputs
