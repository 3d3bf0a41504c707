"""Execute a kiln IR graph on integer codes with torch: the bit-exact reference model.

The same code runs on CPU and CUDA; every op follows hls4ml's Vivado templates and
ap_fixed casts (kiln.fixed.requantize), so its codes equal the HLS C simulation's.
"""

from __future__ import annotations

import torch

from kiln.errors import UnsupportedLayerError
from kiln.fixed._quantize import requantize
from kiln.fixed._types import FixedType
from kiln.ir import Cast, Dense, Graph, Input, Lut, Node, Relu, Softmax

# Products of int64 codes are exact while |x|,|w| < 2**31; a Dense layer is split into input
# chunks so the (batch, chunk, n_out) product tensor stays small.
_PRODUCT_ELEMENTS = 1 << 24


def _dense(x: torch.Tensor, in_type: FixedType, node: Dense) -> torch.Tensor:
    w = torch.tensor(node.weight, device=x.device)
    acc_t = node.accum_type
    product_frac = in_type.frac + node.weight_type.frac
    acc = requantize(torch.tensor(node.bias, device=x.device), node.bias_type.frac, acc_t)
    acc = acc.expand(x.shape[0], -1).clone()
    chunk = max(1, _PRODUCT_ELEMENTS // max(1, x.shape[0] * node.n_out))
    for start in range(0, node.n_in, chunk):
        products = x[:, start:start + chunk, None] * w[None, start:start + chunk, :]
        acc += requantize(products, product_frac, acc_t).sum(dim=1)
    # The accumulator wraps (checked by kiln.ir.check_graph): wrapping once at the end equals
    # wrapping after every addition.
    acc = requantize(acc, acc_t.frac, acc_t)
    return requantize(acc, acc_t.frac, node.out_type)


def _apply(node: Node, x: torch.Tensor, in_type: FixedType) -> torch.Tensor:
    if isinstance(node, Dense):
        return _dense(x, in_type, node)
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
    in_type = graph.input.out_type
    outputs: dict[str, torch.Tensor] = {}
    for node in graph.nodes:
        if not isinstance(node, Input):
            x = _apply(node, x, in_type)
        in_type = node.out_type
        if trace:
            outputs[node.name] = x
    outputs["output"] = x
    return outputs
