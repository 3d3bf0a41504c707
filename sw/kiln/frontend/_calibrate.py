"""Infer a fixed-point configuration for a float model (plain torch.nn, TorchScript, ONNX)
from calibration data, by making it a QONNX model whose every tensor has a power-of-two type.

Each weight and bias gets a signed ``bits``-wide type whose binary point just holds its
largest magnitude; the input and every ReLU output get one that holds the largest value seen
on the calibration inputs (unsigned where nothing negative was seen). The result is a new
QONNX model: kiln builds it through the Brevitas path, bit-exact against it, and the report
lists every inferred type and, given labels, the float and fixed-point accuracy.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import InputShapeError, KilnError
from kiln.frontend._onnx import _fold, _with_batch, fix_input_shape, layer_and_role, quiet, run_onnx
from kiln.frontend._torch import _export_onnx, load_torch
from kiln.ir import FixedType

# Operators whose initializer inputs are parameters: (input index, role).
_PARAMETERS = {"MatMul": ((1, "weight"),), "Gemm": ((1, "weight"), (2, "bias")),
               "Conv": ((1, "weight"), (2, "bias")), "Add": ((1, "bias"),)}


@dataclass(frozen=True)
class InferredType:
    tensor: str  # e.g. "weight of layer '0'", "input", "output of ONNX node '/1/Relu'"
    fixed_type: FixedType
    max_abs: float


@dataclass(frozen=True)
class Inferred:
    """The fixed-point QONNX model (an onnx ModelProto, for kiln.compile) and its types."""

    model: Any
    types: tuple[InferredType, ...]
    float_accuracy: float | None = None
    fixed_accuracy: float | None = None

    def __str__(self) -> str:
        lines = [f"{len(self.types)} tensors typed from the data:"]
        lines += [f"  {t.tensor}: {t.fixed_type} (largest magnitude {t.max_abs:.4g})"
                  for t in self.types]
        if self.float_accuracy is not None:
            lines.append(f"accuracy: float {self.float_accuracy:.4f}, fixed point "
                         f"{self.fixed_accuracy:.4f}")
        return "\n".join(lines)


def _fitting_type(values: NDArray[Any], bits: int, signed: bool) -> tuple[float, FixedType]:
    """The power-of-two scale (and its ap_fixed type) whose range just holds ``values``."""
    biggest = float(np.abs(values).max(initial=0.0))
    top = math.floor(math.log2(biggest)) + 1 if biggest > 0 else 0  # 2^top > biggest
    integer = top + (1 if signed else 0)
    return 2.0 ** (integer - bits), FixedType(bits, integer, signed, "RND_CONV", "SAT")


def _insert_quant(wrapper: Any, tensor: str, consumers: list[tuple[Any, int]], name: str,
                  scale: float, bits: int, signed: bool) -> None:
    """Put a QONNX Quant on ``tensor`` in front of the given (node, input index) consumers."""
    from onnx import helper

    quantized = f"{name}_out"
    params = [f"{name}_{p}" for p in ("scale", "zero", "bits")]
    for param, value in zip(params, (scale, 0.0, float(bits)), strict=True):
        wrapper.set_initializer(param, np.array(value, dtype=np.float32))
    wrapper.graph.node.append(helper.make_node(
        "Quant", [tensor, *params], [quantized], name=name, domain="qonnx.custom_op.general",
        signed=int(signed), narrow=0, rounding_mode="ROUND"))
    for node, index in consumers:
        node.input[index] = quantized


def _activations(model: Any, x: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """Every tensor of the float model on the calibration inputs."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    batch = ModelWrapper(_with_batch(model, len(x)))
    in_name = model.graph.input[0].name
    with quiet("qonnx"):
        return dict(execute_onnx(batch, {in_name: x}, return_full_exec_context=True))


def infer_fixed_point(model: Any, x: Any, input_shape: Any = None, bits: int = 8,
                      y: Any = None) -> Inferred:
    """Type a float model's tensors from calibration inputs ``x`` (as the model takes them).

    Args:
        model: a plain torch.nn.Module, a TorchScript or ONNX file, or an onnx ModelProto.
        x: calibration inputs, batch first; their range sets the input and ReLU types.
        input_shape: the input shape without the batch (required for modules).
        bits: the width of every inferred type.
        y: optional labels: float and fixed-point accuracy on ``x`` are then reported.

    Returns:
        :class:`Inferred`; compile ``.model`` with :func:`kiln.compile`.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import SortGraph
    from qonnx.transformation.infer_shapes import InferShapes

    source = load_torch(model, input_shape)
    if source.kind in ("brevitas", "qonnx"):
        raise KilnError(f"{source.where} is already quantized; compile it as it is")
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise KilnError(f"bits={bits!r}: give an integer width from 2 to 32")
    exported = fix_input_shape(copy.deepcopy(_export_onnx(source)), source.input_shape,
                               source.where)
    with quiet("qonnx"):
        wrapper = _fold(ModelWrapper(exported))
    original = copy.deepcopy(wrapper.model)
    in_name = wrapper.graph.input[0].name
    shape = tuple(d.dim_value for d in wrapper.graph.input[0].type.tensor_type.shape.dim[1:])
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x.shape[1:] != shape:
        raise InputShapeError(f"calibration inputs have shape {x.shape}; the model takes "
                              f"(n, {', '.join(map(str, shape))})")
    seen = _activations(original, x)
    types = []

    def quantize(tensor: str, consumers: list[tuple[Any, int]], label: str, name: str,
                 values: NDArray[Any], signed: bool) -> None:
        scale, fixed = _fitting_type(values, bits, signed)
        _insert_quant(wrapper, tensor, consumers, name, scale, bits, signed)
        types.append(InferredType(label, fixed, float(np.abs(values).max(initial=0.0))))

    def consumers_of(tensor: str) -> list[tuple[Any, int]]:
        return [(n, i) for n in wrapper.graph.node for i, t in enumerate(n.input) if t == tensor]

    quantize(in_name, consumers_of(in_name), "input", "/input/act_quant/Quant", seen[in_name],
             bool(np.any(seen[in_name] < 0)))
    for node in list(wrapper.graph.node):
        layer = layer_and_role(node.name)[0] or node.name
        for index, role in _PARAMETERS.get(node.op_type, ()):
            value = wrapper.get_initializer(node.input[index]) if index < len(node.input) else None
            if value is not None:
                quantize(node.input[index], [(node, index)], f"{role} of layer {layer!r}",
                         f"/{layer}/{role}_quant/Quant", value, signed=True)
        if node.op_type == "Relu":
            out = node.output[0]
            quantize(out, consumers_of(out), f"output of {layer!r} (Relu)",
                     f"/{layer}/act_quant/Quant", seen[out], signed=False)
    with quiet("qonnx"):
        wrapper = wrapper.transform(SortGraph()).transform(InferShapes())
    if y is None:
        return Inferred(wrapper.model, tuple(types))
    labels = np.asarray(y).reshape(-1)
    before, after = (run_onnx(m, x).argmax(axis=1) for m in (original, wrapper.model))
    return Inferred(wrapper.model, tuple(types), float((before == labels).mean()),
                    float((after == labels).mean()))
