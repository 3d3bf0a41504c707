"""The one check before a PyTorch model is exported or converted: every module (and, for plain
torch.nn models, every function in ``forward()``) kiln cannot build, each with the one change
that makes it build, raised together as one :class:`UnsupportedLayerError`."""

from __future__ import annotations

from typing import Any

from kiln.errors import UnsupportedLayerError

# torch.nn / Brevitas module classes kiln builds; containers (Sequential, your own Module)
# are walked into, everything else is refused up front, naming the module.
SUPPORTED_TORCH_LAYERS = (
    "Linear", "ReLU", "Softmax", "Sigmoid", "Tanh", "Dropout", "Identity", "LogSoftmax",
    "BatchNorm1d", "LeakyReLU", "PReLU", "ELU", "Threshold", "QuantLinear", "QuantReLU",
    "QuantIdentity",
    # Brevitas activations whose QONNX export is a Quant (HardTanh: the quantizer's clip) or
    # Tanh / Sigmoid then a Quant; the exported operators are checked again.
    "QuantHardTanh", "QuantTanh", "QuantSigmoid",
)
# Layers of convolutional networks: built in both io types.
STREAM_TORCH_LAYERS = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
                       "BatchNorm2d", "Flatten",
                       "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
                       "AdaptiveMaxPool2d", "QuantConv1d", "QuantConv2d")
# Modules built through hls4ml's PyTorch converter (some rewritten by kiln.frontend._torch_graph
# first): in plain torch.nn models, not in Brevitas ones (their QONNX export keeps them as
# operators hls4ml's ONNX reader or kiln does not build).
PLAIN_TORCH_ONLY = ("LogSoftmax", "LeakyReLU", "PReLU", "ELU", "Threshold", "AvgPool1d",
                    "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
                    "AdaptiveMaxPool2d")
_RECTIFIER_BREVITAS_FIX = ("use QuantReLU, or compile the model without Brevitas layers (kiln "
                           "builds it from plain torch.nn models through hls4ml's PyTorch "
                           "converter)")
_BREVITAS_FIXES = {
    "LeakyReLU": _RECTIFIER_BREVITAS_FIX, "PReLU": _RECTIFIER_BREVITAS_FIX,
    "ELU": _RECTIFIER_BREVITAS_FIX, "Threshold": _RECTIFIER_BREVITAS_FIX,
    "LogSoftmax": "remove it (the logits rank as its outputs do), or compile the model "
                  "without Brevitas layers",
}
# Modules whose QONNX operator hls4ml's ONNX reader mis-reads: refused in Brevitas models
# (plain torch.nn models build them through hls4ml's PyTorch converter).
_BREVITAS_UNBUILT = {
    "MaxPool1d": "kiln cannot build 1D pooling from a Brevitas (QONNX) model: hls4ml's ONNX "
                 "reader does not read its window (pad_left / n_filt). Fix: make the model 2D "
                 "(QuantConv2d with kernel (1, k), nn.MaxPool2d((1, p)), input_shape "
                 "(C, 1, W)), or drop the pooling",
}
_BREVITAS_POOL_FIX = "use nn.MaxPool1d/2d (QONNX average pooling is not built by kiln)"
# Functions (call_function / call_method nodes of a plain module's forward()) kiln builds,
# by hls4ml's name for them (a trailing _<n> removed).
TORCH_FUNCTIONS = ("relu", "softmax", "sigmoid", "tanh", "flatten", "view", "getitem",
                   "log_softmax", "dropout", "leaky_relu", "elu", "_threshold")
STREAM_TORCH_FUNCTIONS = ("max_pool1d", "max_pool2d", "adaptive_avg_pool1d",
                          "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d")
# Modules that only group others: walked into.
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
# Module prefixes of torch's own int8 quantization (quantize_dynamic, prepare/convert, QAT).
_TORCH_QUANTIZED = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic",
                    "torch.nn.intrinsic", "torch.ao.nn.qat", "torch.nn.qat",
                    "torch.ao.quantization", "torch.quantization")
_TORCH_QUANTIZED_FIX = (
    "torch's int8 quantization (quantize_dynamic, prepare/convert) scales by float factors "
    "that no fixed-point type holds. Fix: compile the float model from before quantization "
    "with precision='fixed<16,6>' (or kiln.frontend.infer_fixed_point), or train with "
    "Brevitas power-of-two quantizers (e.g. Int8WeightPerTensorFixedPoint)")
_RELU_FIX = ("replace it with nn.ReLU, nn.LeakyReLU, nn.ELU or nn.PReLU; kiln does not build "
             "this curve for negative inputs")
_SINGLE_PATH = "kiln builds single-path models: remove the"
# The one change that makes a module (or function) kiln does not build into one it does.
_FIXES = {
    "SELU": _RELU_FIX,
    "CELU": _RELU_FIX, "GELU": _RELU_FIX, "SiLU": _RELU_FIX, "Mish": _RELU_FIX,
    "Softplus": _RELU_FIX, "ReLU6": "replace it with nn.ReLU "
    "(a clip at 6 is not built by kiln)",
    "Hardtanh": "replace it with nn.Tanh (a table kiln builds) or nn.ReLU; kiln has no clip "
                "layer", "Hardsigmoid": "replace it with nn.Sigmoid (a table kiln builds)",
    "Hardswish": _RELU_FIX,
    "LayerNorm": "remove it (kiln builds no normalization over features)",
    "LSTM": "recurrent layers are not built by kiln; use Linear or Conv1d layers",
    "GRU": "recurrent layers are not built by kiln; use Linear or Conv1d layers",
    "RNN": "recurrent layers are not built by kiln; use Linear or Conv1d layers",
    "Embedding": "feed one-hot or dense features to a Linear layer instead",
    "Upsample": "remove the upsampling (not built by kiln)",
    "UpsamplingNearest2d": "remove the upsampling (not built by kiln)",
    "UpsamplingBilinear2d": "remove the upsampling (not built by kiln)",
    "QuantUpsample": "remove the upsampling (not built by kiln)",
    "QuantUpsamplingNearest2d": "remove the upsampling (not built by kiln)",
    "QuantUpsamplingBilinear2d": "remove the upsampling (not built by kiln)",
    "QuantEltwiseAdd": f"{_SINGLE_PATH} skip connection (element-wise sum)",
    "QuantCat": f"{_SINGLE_PATH} branch and concatenation",
    "ConvTranspose1d": "transposed convolutions are not built by kiln; use Conv1d",
    "ConvTranspose2d": "transposed convolutions are not built by kiln; use Conv2d",
    "MultiheadAttention": "attention is not built by kiln; use Linear layers",
    "Unflatten": "remove it; feed the data in the shape the next layer needs",
    "add": f"{_SINGLE_PATH} skip connection", "iadd": f"{_SINGLE_PATH} skip connection",
    "cat": f"{_SINGLE_PATH} branch and concatenation",
    "concat": f"{_SINGLE_PATH} branch and concatenation",
    "mul": f"{_SINGLE_PATH} element-wise product", "sub": f"{_SINGLE_PATH} difference",
    "multiply": f"{_SINGLE_PATH} element-wise product",
    "subtract": f"{_SINGLE_PATH} difference", "minimum": f"{_SINGLE_PATH} element-wise minimum",
    "maximum": f"{_SINGLE_PATH} element-wise maximum",
    "squeeze": "use nn.Flatten / x.view(-1, n) with constant sizes",
    "unsqueeze": "use nn.Flatten / x.view(-1, n) with constant sizes",
    "reshape": "use nn.Flatten or x.view(-1, n) with constant sizes",
    "permute": "remove it; kiln moves channels last itself",
    "transpose": "remove it; kiln moves channels last itself",
    "avg_pool1d": "use the module nn.AvgPool1d",
    "avg_pool2d": "use the module nn.AvgPool2d",
    "gelu": _RELU_FIX, "silu": _RELU_FIX,
    "threshold": "use F.threshold(x, threshold, 0.0) or the module nn.Threshold",
    "prelu": "use the module nn.PReLU (hls4ml converts no functional prelu)", "selu": _RELU_FIX,
    "celu": _RELU_FIX, "softplus": _RELU_FIX, "mish": _RELU_FIX, "hardswish": _RELU_FIX,
    "rrelu": _RELU_FIX, "RReLU": _RELU_FIX, "relu6": "replace it with F.relu (a clip at 6 is "
    "not built by kiln)",
    "hardtanh": "replace it with torch.tanh (a table kiln builds) or F.relu",
    "hardsigmoid": "replace it with torch.sigmoid (a table kiln builds)",
    "batch_norm": "fold it into the preceding layer before compiling, or remove it",
}
_GENERIC_FIX = "replace it with one of the layers kiln builds (below)"


def _fix(name: str) -> str:
    return _FIXES.get(name, _GENERIC_FIX)


def _conv_problems(module: Any) -> list[str]:
    """Conv1d/Conv2d settings kiln does not build, each with its fix."""
    problems = []
    if any(int(d) != 1 for d in module.dilation):
        problems.append(f"dilation={tuple(module.dilation)} (use 1)")
    if int(module.groups) != 1:
        problems.append(f"groups={module.groups} (grouped and depthwise convolutions from "
                        "PyTorch are not built yet: use groups=1, or a Keras "
                        "DepthwiseConv2D model)")
    if getattr(module, "padding_mode", "zeros") != "zeros":
        problems.append(f"padding_mode={module.padding_mode!r} (use 'zeros')")
    return problems


def _pool_problems(module: Any) -> list[str]:
    """MaxPool/AvgPool settings kiln does not build, each with its fix."""
    problems = []
    padding = module.padding if isinstance(module.padding, tuple | list) else (module.padding,)
    # Average pooling counting the padding is a zero pad, then the pool (_torch_graph).
    zero_pad = type(module).__name__.startswith("AvgPool") and module.count_include_pad
    if any(int(p) != 0 for p in padding) and not zero_pad:
        problems.append(f"padding={module.padding!r} (use 0; pad with a ConstantPad before "
                        "it if you must)")
    if module.ceil_mode:
        problems.append("ceil_mode=True (use False)")
    dilation = getattr(module, "dilation", 1)
    if any(int(d) != 1 for d in (dilation if isinstance(dilation, tuple | list) else
                                 (dilation,))):
        problems.append(f"dilation={dilation!r} (use 1)")
    if getattr(module, "divisor_override", None) is not None:
        problems.append(f"divisor_override={module.divisor_override} (use None)")
    return problems


def _adaptive_problem(module: Any) -> str | None:
    size = module.output_size
    sizes = size if isinstance(size, tuple | list) else (size,)
    if all(s == 1 for s in sizes):
        return None
    return (f"output_size={size!r}: kiln builds adaptive pooling to one value per channel "
            "only (global pooling). Fix: output_size=1, or a MaxPool with a fixed kernel")


def _threshold_problem(threshold: Any, value: Any) -> str | None:
    """nn.Threshold / F.threshold settings hls4ml converts wrongly or refuses."""
    if float(value) != 0.0:
        return (f"value={value} (hls4ml builds a thresholded ReLU, which gives 0 at or below "
                "the threshold, and ignores value). Fix: value=0")
    if float(threshold) < 0:
        return (f"threshold={threshold} (hls4ml converts non-negative thresholds only). Fix: a "
                "threshold of 0 or more, or nn.ReLU / nn.LeakyReLU")
    return None


def _rectifier_call_problem(operation: str, node: Any) -> str | None:
    """An F.threshold call hls4ml converts wrongly or refuses (torch.fx passes its
    threshold and value by position, as hls4ml reads them)."""
    if operation != "_threshold":
        return None
    import inspect

    bound = inspect.signature(node.target).bind(*node.args, **node.kwargs)
    return _threshold_problem(bound.arguments["threshold"], bound.arguments["value"])


def _module_problem(cls: str, child: Any) -> str | None:
    """What keeps a supported module class from building, or None."""
    if cls == "Threshold":
        return _threshold_problem(child.threshold, child.value)
    for attr in ("out_features", "out_channels"):
        if int(getattr(child, attr, 1)) < 1:
            return (f"{attr}={getattr(child, attr)}: the layer has no outputs. Fix: give it a "
                    "positive size")
    if cls in ("Conv1d", "Conv2d", "QuantConv1d", "QuantConv2d") and (
            problems := _conv_problems(child)):
        return f"{'; '.join(problems)} is not supported by kiln's RTL"
    if cls in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d") and (
            problems := _pool_problems(child)):
        return f"{'; '.join(problems)} is not supported by kiln's RTL"
    if cls.startswith("Adaptive"):
        return _adaptive_problem(child)
    return None


def module_problems(model: Any, io_type: str | None = None, plain: bool = False
                    ) -> list[str]:
    """Every module of ``model`` kiln cannot build with ``io_type`` (None: not chosen yet),
    one line each: its path, type, and the one fix. ``plain``:
    a plain torch.nn model (else Brevitas), which may hold :data:`PLAIN_TORCH_ONLY`."""
    problems: list[str] = []

    def visit(prefix: str, module: Any) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            cls = type(child).__name__
            at = f"module {path!r} ({cls})"
            if type(child).__module__.startswith(_TORCH_QUANTIZED):
                problems.append(f"{at} is torch-quantized. Fix: {_TORCH_QUANTIZED_FIX}")
                continue
            if cls in _BREVITAS_UNBUILT and not plain:
                problems.append(f"{at}: {_BREVITAS_UNBUILT[cls]}")
                continue
            if cls in PLAIN_TORCH_ONLY and not plain:
                fix = _BREVITAS_FIXES.get(cls, _BREVITAS_POOL_FIX)
                problems.append(f"{at}: built in plain torch.nn models only, not in Brevitas "
                                f"(QONNX) ones. Fix: {fix}")
                continue
            if cls in SUPPORTED_TORCH_LAYERS or cls in STREAM_TORCH_LAYERS:
                if (problem := _module_problem(cls, child)) is not None:
                    problems.append(f"{at}: {problem}")
                continue
            leaf = not any(True for _ in child.children())
            own = type(child).__module__.startswith(("brevitas.", "torch.nn"))
            if (leaf or own) and cls not in _CONTAINERS:
                problems.append(f"{at}: not built by kiln. Fix: {_fix(cls)}")
                continue
            visit(path, child)

    visit("", model)
    return problems


def operation_name(node: Any) -> str:
    """hls4ml's name for an FX call node: its name without the trailing _<n>."""
    parts = str(node.name).split("_")
    return "_".join(parts[:-1]) if len(parts) > 1 and parts[-1].isdigit() else str(node.name)


def function_problems(graph: Any, io_type: str | None = None,
                      skip: tuple[str, ...] = ()) -> list[str]:
    """Every function or method call in a traced ``forward()`` (a torch.fx Graph) kiln
    cannot build, one line each with its fix; ``skip``: operations checked elsewhere."""
    problems = []
    for node in graph.nodes:
        if node.op not in ("call_function", "call_method"):
            continue
        operation = operation_name(node)
        at = f"function {operation!r} (node {node.name!r} in forward())"
        if (problem := _rectifier_call_problem(operation, node)) is not None:
            problems.append(f"{at}: {problem}")
            continue
        if operation in (*TORCH_FUNCTIONS, *STREAM_TORCH_FUNCTIONS, *skip, "getattr"):
            continue
        problems.append(f"{at}: not built by kiln. Fix: {_fix(operation)}")
    return problems


def raise_problems(problems: list[str], where: str, io_type: str | None) -> None:
    """One :class:`UnsupportedLayerError` listing every problem, and what kiln builds."""
    if not problems:
        return
    built = f"with {io_type}" if io_type else ""
    raise UnsupportedLayerError(
        f"{where}: {len(problems)} module(s) or function(s) kiln cannot build {built}:\n"
        + "\n".join(f"  - {p}" for p in problems)
        + f"\nkiln builds {', '.join(SUPPORTED_TORCH_LAYERS)} (and containers of them), "
        f"{', '.join(STREAM_TORCH_LAYERS)} (of these, "
        f"{', '.join(PLAIN_TORCH_ONLY)} in plain torch.nn models only); functions "
        f"{', '.join(TORCH_FUNCTIONS + STREAM_TORCH_FUNCTIONS)}."
    )
