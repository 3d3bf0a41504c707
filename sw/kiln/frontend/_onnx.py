"""(Q)ONNX models to an hls4ml ModelGraph: QONNX clean-up, exactness checks, conversion.

Brevitas models reach hls4ml through their QONNX export (``Quant`` nodes carrying scale,
zero point and bit width). hls4ml maps a ``Quant`` whose scale is one power of two onto an
``ap_fixed`` type exactly; any other scale it implements with float rescaling layers, which is
not bit-exact. This module refuses those before conversion, naming the layer and the
quantizer to use instead, so nothing is converted silently into something else.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import InputShapeError, KilnError, PrecisionError, UnsupportedLayerError
from kiln.frontend._base import set_reuse_factors
from kiln.frontend._float import type_softmax_inputs
from kiln.ir import FixedType

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

log = logging.getLogger(__name__)

# ONNX operators kiln builds (after QONNX clean-up and Gemm -> MatMul); everything else is
# refused up front, naming the node.
SUPPORTED_ONNX_OPS = ("Quant", "MatMul", "Gemm", "Add", "Relu", "Softmax", "Sigmoid", "Tanh",
                      "Identity", "Dropout", "BatchNormalization")
# Operators of convolutional networks (built in both io types).
STREAM_ONNX_OPS = ("Conv", "MaxPool", "Flatten", "Reshape")
QUANT_OPS = ("Quant", "BipolarQuant", "Trunc", "IntQuant", "QuantizeLinear", "DequantizeLinear")
_SHAPE_OPS = ("Shape", "Size", "NonZero", "Range", "ConstantOfShape", "Expand")
# Layout plumbing that QONNX clean-up usually folds away (a weight's Transpose into its
# Quant); checked again, by the cleaned node's name, if it survives.
_PLUMBING_OPS = ("Transpose", "Squeeze", "Unsqueeze", "Concat", "Gather", "Cast")
# What forward() did to leave each plumbing operator, and the one change that removes it.
_PLUMBING_FIXES = {
    "Concat": "a concatenation (torch.cat / QuantCat in forward()); kiln builds single-path "
              "models. Fix: remove the branch and concatenation",
    "Squeeze": "a squeeze in forward() that kiln's RTL does not build. Fix: remove it, or "
               "flatten with torch.flatten(x, 1) / x.view(-1, n) with constant sizes",
    "Unsqueeze": "an unsqueeze in forward() that kiln's RTL does not build. Fix: remove it, "
                 "or flatten with torch.flatten(x, 1) / x.view(-1, n) with constant sizes",
    "Gather": "indexing or slicing in forward() (x[:, i], x[..., :k]); kiln builds whole "
              "tensors. Fix: remove it (train the layer on all the features)",
}
_PARAM_ROLES = {"MatMul": ("", "weight"), "Gemm": ("", "weight", "bias"), "Add": ("", "bias"),
                "Conv": ("", "weight", "bias"),
                # Float, whatever quantizes the layers around it: typed by ``precision``.
                "BatchNormalization": ("", "scale", "shift", "mean", "variance")}

# Describes a Quant node for messages: (layer text, suggested power-of-two quantizer).
Describe = Callable[[Any, bool], tuple[str, str]]


@dataclass(frozen=True)
class PreparedOnnx:
    """A cleaned, channels-last (Q)ONNX model ready for hls4ml, with what kiln learned from it.

    ``input_type`` is the type the input's own ``Quant`` defines (None when the input is not
    quantized); ``float_params`` names the weights and biases no quantizer covers;
    ``stream_layers`` names the convolutional-network operators.
    """

    model: Any  # qonnx ModelWrapper
    input_type: FixedType | None
    float_params: tuple[str, ...]
    quantized: bool
    float_activations: tuple[str, ...]
    stream_layers: tuple[str, ...] = ()


def is_qonnx(model: Any) -> bool:
    """Whether an ONNX model carries QONNX quantizers."""
    return any(node.op_type in QUANT_OPS for node in model.graph.node)


@contextlib.contextmanager
def quiet(what: str) -> Iterator[None]:
    """hls4ml, qonnx and the torch exporter print and warn freely: route that into the log."""
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        yield
    for line in out.getvalue().splitlines():
        log.debug("%s: %s", what, line)


def default_describe(node: Any, signed: bool) -> tuple[str, str]:
    """Layer text from a Brevitas-style node name ``/fc1/weight_quant/export_handler/Quant``."""
    layer, role = layer_and_role(node.name)
    text = f"layer {layer!r} {role}" if layer else f"ONNX node {node.name!r}"
    return f"{text} (ONNX node {node.name!r})" if layer else text, suggest_quantizer(role, signed)


def layer_and_role(node_name: str) -> tuple[str, str]:
    """('fc1', 'weight_quant') for '/fc1/weight_quant/export_handler/Quant'; ('', '') if none."""
    parts = [p for p in node_name.split("/") if p]
    for i, part in enumerate(parts):
        if part.endswith("_quant"):
            return ".".join(parts[:i]), part
    if len(parts) > 1:
        return ".".join(parts[:-1]), ""
    return "", ""


def suggest_quantizer(role: str, signed: bool) -> str:
    if role == "weight_quant":
        return "Int8WeightPerTensorFixedPoint"
    if role == "bias_quant":
        return ("Int8BiasPerTensorFixedPointInternalScaling (or IntBias behind fixed-point "
                "weight and input quantizers)")
    return "Int8ActPerTensorFixedPoint" if signed else "Uint8ActPerTensorFixedPoint"


def _shape_of(value_info: Any) -> list[int | str]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param or (d.dim_value if d.dim_value > 0 else "?") for d in dims]


def fix_input_shape(model: Any, input_shape: tuple[int, ...] | None, where: str) -> Any:
    """Set the input to (1, *shape): refuse several inputs and dynamic non-batch dimensions."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UnsupportedLayerError(
            f"{where} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); kiln "
            "builds single-input models"
        )
    inp = inputs[0]
    found = _shape_of(inp)
    static = found[1:]
    if input_shape is None:
        dynamic = [i + 1 for i, d in enumerate(static) if not isinstance(d, int)]
        if dynamic or not found:
            raise InputShapeError(
                f"{where}: input {inp.name!r} has shape {found} with dynamic dimension(s) "
                f"{dynamic or 'unknown'}; kiln builds fixed-size hardware. Export with fixed "
                "sizes (batch may stay dynamic) or give input_shape= (kiln compile --input-shape)."
            )
        shape = tuple(int(d) for d in static)
    else:
        shape = tuple(input_shape)
        if len(static) != len(shape) or any(isinstance(d, int) and d != s
                                            for d, s in zip(static, shape, strict=False)):
            raise InputShapeError(
                f"{where}: input {inp.name!r} has shape {found} (batch first), which does not "
                f"match input_shape={shape}"
            )
    dims = inp.type.tensor_type.shape.dim
    for i, size in enumerate((1, *shape)):
        dims[i].ClearField("dim_param")
        dims[i].dim_value = size
    del model.graph.value_info[:]  # re-inferred from the fixed input
    return model


def _constant(wrapper: Any, name: str) -> NDArray[Any] | None:
    return None if not name else wrapper.get_initializer(name)


def quant_type(node: Any, wrapper: Any, describe: Describe) -> FixedType:
    """The ap_fixed type hls4ml gives a QONNX ``Quant`` node; refuse anything not exact."""
    from qonnx.custom_op.registry import getCustomOp

    attrs = getCustomOp(node)
    signed = bool(attrs.get_nodeattr("signed"))
    narrow = bool(attrs.get_nodeattr("narrow"))
    rounding = str(attrs.get_nodeattr("rounding_mode")).upper()
    where, use = describe(node, signed)
    fix = f"Use {use}, a power-of-two (fixed-point) quantizer"
    scale, zero, bits = (_constant(wrapper, n) for n in (list(node.input) + ["", "", ""])[1:4])
    if scale is None or zero is None or bits is None:
        raise PrecisionError(
            f"{where}: scale, zero point or bit width is computed at run time, so no fixed "
            f"type can hold it. {fix} with a constant or learned scale."
        )
    scale, zero, bits = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (scale, zero, bits))
    if bits.size != 1 or bits[0] != round(bits[0]) or bits[0] < 1:
        raise PrecisionError(f"{where}: bit width {bits.tolist()} is not one positive integer; "
                             "give the quantizer an integer bit_width")
    if np.any(zero != 0):
        raise PrecisionError(
            f"{where}: zero point {zero.tolist()[:4]} is not 0; asymmetric (shifted) quantizers "
            f"are not ap_fixed types. {fix} (zero point 0)."
        )
    if np.any(scale <= 0) or not np.all(np.frexp(scale)[0] == 0.5):
        bad = float(scale[(scale <= 0) | (np.frexp(scale)[0] != 0.5)][0])
        raise PrecisionError(
            f"{where}: scale {bad!r} is not a power of two, so it cannot be an ap_fixed binary "
            f"point and converting it would not be bit-exact. {fix} (restrict_scaling_type="
            "RestrictValueType.POWER_OF_TWO) and retrain or re-export, or re-quantize with "
            "kiln.frontend.requantize_pow2(model, x=..., y=...), which reports the accuracy cost."
        )
    if np.any(scale != scale[0]):
        raise PrecisionError(
            f"{where}: per-channel scales {sorted(set(scale.tolist()))[:4]}... differ; kiln "
            f"needs one type per tensor. {fix} per tensor (scaling_per_output_channel=False)."
        )
    if rounding not in ("ROUND", "FLOOR"):
        raise PrecisionError(f"{where}: rounding mode {rounding!r}; kiln supports ROUND "
                             "(round half to even) and FLOOR")
    if narrow and not signed:
        raise PrecisionError(f"{where}: narrow range on an unsigned quantizer has no ap_fixed "
                             "mode; use narrow_range=False")
    width = int(bits[0])
    integer = width + int(np.frexp(scale[0])[1]) - 1  # hls4ml's quant_opt rule
    return FixedType(width, integer, signed, "RND_CONV" if rounding == "ROUND" else "TRN",
                     "SAT_SYM" if narrow else "SAT")


def _fold(wrapper: Any) -> Any:
    """Shape inference and constant folding that keep node names (for messages)."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveUniqueParameterTensors
    from qonnx.transformation.infer_shapes import InferShapes

    for node in wrapper.graph.node:
        if node.op_type in ("Quant", "Trunc", "BipolarQuant"):
            node.domain = "qonnx.custom_op.general"
    for transform in (InferShapes(), GiveUniqueParameterTensors(),
                      FoldConstants(exclude_op_types=list(QUANT_OPS))):
        wrapper = wrapper.transform(transform)
    return wrapper


def _node_text(node: Any) -> str:
    layer, _ = layer_and_role(node.name)
    return f"layer {layer!r} (ONNX node {node.name!r})" if layer else f"ONNX node {node.name!r}"


def check_ops(wrapper: Any, where: str, cleaned: bool) -> tuple[str, ...]:
    """Refuse operators kiln cannot build and run-time shape computations, naming the node;
    layout plumbing is let through until the graph is ``cleaned``. Returns the
    convolutional-network operators found, named."""
    stream = []
    for node in wrapper.graph.node:
        at = _node_text(node)
        if node.op_type in STREAM_ONNX_OPS:
            if node.op_type == "MaxPool" and len(wrapper.get_tensor_shape(node.input[0]) or
                                                   ()) == 3:
                raise UnsupportedLayerError(
                    f"{where}: {at} (MaxPool) pools in 1D, which hls4ml's ONNX reader does not "
                    "read (it loses the window's padding and channels). Fix: make the model 2D "
                    "(a Conv with kernel (1, k), MaxPool2d((1, p)), input (C, 1, W)), or "
                    "compile the plain torch.nn model, which builds MaxPool1d."
                )
            stream.append(f"{at} ({node.op_type})")
            continue
        if node.op_type in _PLUMBING_OPS and not cleaned:
            continue
        if node.op_type in _SHAPE_OPS:
            raise InputShapeError(
                f"{where}: {at} ({node.op_type}) computes a tensor shape at run time (a dynamic "
                "shape); kiln builds fixed-size hardware. Use constant shapes in forward(), e.g. "
                "x.view(-1, 64) instead of x.view(x.size(0), -1)."
            )
        if node.op_type in _PLUMBING_FIXES:
            raise UnsupportedLayerError(
                f"{where}: {at} ({node.op_type}) is {_PLUMBING_FIXES[node.op_type]}"
            )
        if node.op_type in _PLUMBING_OPS:
            raise UnsupportedLayerError(
                f"{where}: {at} ({node.op_type}) changes the tensor layout in a way kiln's "
                "RTL does not build (left by the channels-last conversion of a float ONNX/"
                "TorchScript CNN, or a squeeze, concatenation or gather in forward()). Fix: "
                "for a plain torch.nn CNN compile the torch.nn.Module itself (kiln.compile("
                "model, input_shape=(C, H, W), io_type='io_stream')), which kiln builds; for "
                "an MLP give a flat input (e.g. input_shape=(64,)) and flatten with "
                "torch.flatten(x, 1)."
            )
        if node.op_type not in SUPPORTED_ONNX_OPS:
            raise UnsupportedLayerError(
                f"{where}: {at} of type {node.op_type} is not supported by kiln's RTL yet. "
                f"Supported ONNX operators: "
                f"{', '.join(SUPPORTED_ONNX_OPS + STREAM_ONNX_OPS)}."
            )
    return tuple(stream)


def _inspect(wrapper: Any, describe: Describe, where: str
             ) -> tuple[FixedType | None, tuple[str, ...], bool, tuple[str, ...]]:
    """Check every Quant node; find the input's type, float parameters, float activations."""
    initializers = {t.name for t in wrapper.graph.initializer}
    input_name = wrapper.graph.input[0].name
    input_type, quantized, floats, float_acts = None, False, [], []
    for node in wrapper.graph.node:
        if node.op_type in QUANT_OPS:
            if node.op_type != "Quant":
                raise UnsupportedLayerError(
                    f"{where}: ONNX node {node.name!r} is a {node.op_type}; kiln builds QONNX "
                    "Quant nodes with power-of-two scales only"
                )
            t = quant_type(node, wrapper, describe)
            quantized = True
            if node.input[0] == input_name:
                input_type = t
        for index, role in enumerate(_PARAM_ROLES.get(node.op_type, ())):
            if role and index < len(node.input) and node.input[index] in initializers:
                layer, _ = layer_and_role(node.name)
                floats.append(f"{role} of layer {layer or node.name!r}")
        if node.op_type in ("Softmax", "Sigmoid", "Tanh"):
            float_acts.append(f"{node.op_type} {node.name!r}")
    return input_type, tuple(floats), quantized, tuple(float_acts)


def prepare_onnx(model: Any, input_shape: tuple[int, ...] | None, where: str,
                 describe: Describe = default_describe, reference_only: bool = False
                 ) -> PreparedOnnx:
    """Check and clean a (Q)ONNX ModelProto for hls4ml (the clean-up hls4ml's QONNX reader
    expects: qonnx cleanup, channels-last, Gemm -> MatMul). ``reference_only``: the ONNX is
    only executed as the reference of a plain torch.nn model (hls4ml's PyTorch converter
    builds the hardware from the module, checked there), so its operators are not checked
    again (average pooling, batch norm, the layout Transposes qonnx leaves around them)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = fix_input_shape(copy.deepcopy(model), input_shape, where)
    try:
        with quiet("qonnx"):
            wrapper = _fold(ModelWrapper(model))
    except Exception as exc:
        raise KilnError(f"{where}: QONNX shape inference / constant folding failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    stream = () if reference_only else check_ops(wrapper, where, cleaned=False)
    input_type, floats, quantized, float_acts = _inspect(wrapper, describe, where)
    try:
        with quiet("qonnx"):
            wrapper = cleanup_model(wrapper)
            wrapper = wrapper.transform(ConvertToChannelsLastAndClean(
                make_input_channels_last=True))
            wrapper = wrapper.transform(GemmToMatMul())
            wrapper = cleanup_model(wrapper)
    except Exception as exc:
        raise KilnError(f"{where}: QONNX clean-up failed: {type(exc).__name__}: {exc}") from exc
    wrapper = output_channels_last(wrapper)
    if not reference_only:
        check_ops(wrapper, where, cleaned=True)
    return PreparedOnnx(wrapper, input_type, floats, quantized, float_acts, stream)


def output_channels_last(wrapper: Any) -> Any:
    """Drop the Transpose back to channels-first that qonnx's channels-last conversion puts
    at the output of a model ending in a feature map (a conv, pool or activation): the
    hardware gives every image channels last (as it does for plain torch.nn CNNs), and the
    saved model, the reference, then gives the same layout."""
    graph = wrapper.graph
    out = graph.output[0].name
    last = next((n for n in graph.node if out in n.output), None)
    if last is None or last.op_type != "Transpose":
        return wrapper
    before = last.input[0]
    shape = wrapper.get_tensor_shape(before)
    graph.node.remove(last)
    for node in graph.node:
        node.output[:] = [out if name == before else name for name in node.output]
        node.input[:] = [out if name == before else name for name in node.input]
    for info in list(graph.value_info):
        if info.name == before:
            graph.value_info.remove(info)
    wrapper.set_tensor_shape(out, shape)
    return wrapper


def onnx_hls_config(prepared: PreparedOnnx, options: BuildOptions,
                    where: str) -> dict[str, Any]:
    """hls4ml configuration: quantizers define their tensors' types; ``precision`` covers float
    weights and biases (required when there are any), the input type comes from its quantizer
    or ``input_precision``."""
    import hls4ml

    from kiln.frontend._keras import DEFAULT_INPUT_PRECISION

    precision, input_precision = options.precision, options.input_precision
    if prepared.float_params and precision is None:
        shown = ", ".join(prepared.float_params[:3])
        kind = "is a float model" if not prepared.quantized else "has float parameters"
        raise PrecisionError(
            f"{where} {kind} ({shown}{', ...' if len(prepared.float_params) > 3 else ''}) and "
            "no precision was given. Quantize them (Brevitas weight_quant / bias_quant with "
            "power-of-two scales) or pass precision='fixed<16,6>' (kiln compile --precision) "
            "to choose a fixed-point type for every float tensor."
        )
    with quiet("hls4ml"):
        config: dict[str, Any] = hls4ml.utils.config_from_onnx_model(
            prepared.model.model, granularity="name", backend="Vivado",
            default_precision=precision or "fixed<16,6>",
            default_reuse_factor=options.default_reuse_factor,
        )
    set_reuse_factors(config, options, where)
    input_name = prepared.model.graph.input[0].name
    if input_precision is not None or prepared.input_type is None:
        chosen = input_precision or precision or DEFAULT_INPUT_PRECISION
        if prepared.input_type is None:
            log.info("input %s has no quantizer: using input type %s", input_name, chosen)
    else:
        # The input takes its quantizer's type; hls4ml then drops the now identical cast.
        chosen = str(prepared.input_type)
    layer = config.setdefault("LayerName", {}).setdefault(input_name, {})
    layer.setdefault("Precision", {})["result"] = chosen
    if not prepared.quantized:
        type_softmax_inputs(config)
    return config


def convert_onnx(prepared: PreparedOnnx, output_dir: Path, options: BuildOptions,
                 where: str) -> Any:
    """Convert a prepared (Q)ONNX model to an hls4ml ModelGraph (Vivado backend)."""
    import hls4ml

    config = onnx_hls_config(prepared, options, where)
    try:
        with quiet("hls4ml"):
            return hls4ml.converters.convert_from_onnx_model(
                prepared.model.model, output_dir=str(output_dir), project_name="kiln_model",
                backend="Vivado", io_type=options.io_type, hls_config=config,
                part=options.part, clock_period=options.clock_period,
            )
    except KilnError:
        raise
    except Exception as exc:
        raise KilnError(f"hls4ml could not convert {where}: {type(exc).__name__}: {exc}"
                        ) from exc


def _with_batch(model: Any, batch: int) -> Any:
    """A copy whose input-dependent tensors have batch size ``batch`` (first dimension)."""
    model = copy.deepcopy(model)
    live = {model.graph.input[0].name}
    for node in model.graph.node:
        if any(name in live for name in node.input):
            live.update(node.output)
    for info in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        if info.name in live and info.type.tensor_type.shape.dim:
            info.type.tensor_type.shape.dim[0].dim_value = batch
    return model


def run_onnx(model: str | Path | Any, x: NDArray[Any], batch_size: int = 4096) -> NDArray[Any]:
    """The framework reference from a (Q)ONNX ModelProto or saved file (``model/source.onnx``):
    float outputs of qonnx's executor (Quant nodes in numpy, the rest in onnxruntime), shape
    (n, outputs)."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    if isinstance(model, str | Path):
        model = onnx.load(str(model))
    in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
    in_shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = np.asarray(x, dtype=np.float32).reshape(len(x), *in_shape)
    outputs = []
    for start in range(0, len(x), batch_size):
        chunk = np.ascontiguousarray(x[start:start + batch_size])
        wrapper = ModelWrapper(_with_batch(model, len(chunk)))
        with quiet("qonnx"):
            outputs.append(execute_onnx(wrapper, {in_name: chunk})[out_name])
    result: NDArray[Any] = np.concatenate(outputs).reshape(len(x), -1).astype(np.float64)
    return result
