"""Plain torch.nn models as kiln builds them: traced with torch.fx (as hls4ml traces them),
checked, and rewritten into layers hls4ml converts.

- ``nn.AdaptiveAvgPool1d/2d(1)`` / ``nn.AdaptiveMaxPool1d/2d(1)`` (and their functions)
  become an AvgPool/MaxPool whose kernel is the whole image: global pooling, the same
  values in float.
- ``nn.AvgPool1d/2d`` with padding (``count_include_pad=True``, PyTorch's default) becomes a
  zero ``ConstantPad`` then the pool without padding: the same sums over the same kernel.
- ``squeeze`` / ``unsqueeze`` that only add or remove size-1 axes in front of the features of
  a model without convolutions or pooling are dropped: a Linear or an activation computes the
  same vector either way.
- A ``LogSoftmax`` (module or ``F.log_softmax``) that produces the model's output is dropped:
  the hardware outputs the logits. ``log_softmax(x) = x - logsumexp(x)`` subtracts one value
  per sample, so the ranking (argmax, top-k) is exactly the logits'; the values are not log
  probabilities. Logged as a warning at every compile; anywhere else it is refused.
"""

from __future__ import annotations

import logging
from typing import Any

from kiln.errors import InputShapeError, UnsupportedLayerError
from kiln.frontend._torch_check import (
    function_problems,
    module_problems,
    operation_name,
    raise_problems,
)

log = logging.getLogger(__name__)

_SHAPE_METHODS = ("size", "dim", "numel")
_SIZE_ONE_RESHAPES = ("squeeze", "unsqueeze")
_ADAPTIVE = {"AdaptiveAvgPool1d": "AvgPool1d", "AdaptiveAvgPool2d": "AvgPool2d",
             "AdaptiveMaxPool1d": "MaxPool1d", "AdaptiveMaxPool2d": "MaxPool2d"}
_ADAPTIVE_FUNCTIONS = {"adaptive_avg_pool1d": "AvgPool1d", "adaptive_avg_pool2d": "AvgPool2d",
                       "adaptive_max_pool1d": "MaxPool1d", "adaptive_max_pool2d": "MaxPool2d"}
LOG_SOFTMAX_NOTE = (
    "{where}: its output LogSoftmax {name!r} is not built: the hardware outputs the logits "
    "before it. log_softmax(x) = x - logsumexp(x) shifts every output of a sample by the same "
    "amount, so argmax and ranking are exactly those of the model; the values are logits, not "
    "log probabilities (apply torch.log_softmax to the outputs if you need them)."
)


def trace(model: Any, where: str) -> Any:
    """``model`` as a torch.fx GraphModule, traced as hls4ml's PyTorch converter traces it."""
    import torch
    from hls4ml.utils.torch import CustomFXTracer

    try:
        graph = CustomFXTracer().trace(model)
    except Exception as exc:
        raise UnsupportedLayerError(
            f"{where}: torch.fx cannot trace forward() ({type(exc).__name__}: {exc}); kiln "
            "needs a static graph without data-dependent control flow"
        ) from exc
    return torch.fx.GraphModule(model, graph)


def _is_log_softmax(module: Any, node: Any) -> bool:
    if node.op == "call_module":
        return type(module.get_submodule(node.target)).__name__ == "LogSoftmax"
    return node.op in ("call_function", "call_method") and "log_softmax" in str(node.name)


def _graph_problems(module: Any, where: str) -> list[str]:
    """Problems only the graph shows: run-time shapes, several inputs, a LogSoftmax that does
    not produce the output."""
    problems = []
    inputs = [n for n in module.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        problems.append(f"{where} has {len(inputs)} inputs. Fix: kiln builds one-input models")
    for node in module.graph.nodes:
        target = str(getattr(node.target, "__name__", node.target))
        shape_attr = target == "getattr" and len(node.args) > 1 and node.args[1] == "shape"
        if (node.op == "call_method" and target in _SHAPE_METHODS) or shape_attr:
            problems.append(
                f"node {node.name!r} in forward() reads a tensor's shape at run time (a dynamic "
                "shape); kiln builds fixed-size hardware. Fix: use constant sizes, e.g. "
                "x.view(-1, 64) instead of x.view(x.size(0), -1)")
        elif _function_pool(node) is not None and _output_size(node) not in (1, (1,), (1, 1)):
            problems.append(
                f"function {node.name!r} in forward(): output_size={_output_size(node)!r}; kiln "
                "builds adaptive pooling to one value per channel only (global pooling). Fix: "
                "output_size=1, or a max pool with a fixed kernel")
        elif _is_log_softmax(module, node) and any(u.op != "output" for u in node.users):
            problems.append(
                f"LogSoftmax node {node.name!r} in forward() feeds further layers; kiln drops a "
                "LogSoftmax only where it produces the output (the logits keep its ranking). "
                "Fix: remove it, or use it only as the last layer")
    return problems


def _flat_model(module: Any) -> bool:
    """No convolution or pooling: every tensor is a vector of features (last axis)."""
    return not any(type(m).__name__.startswith(("Conv", "MaxPool", "AvgPool", "Adaptive"))
                   for m in module.modules())


def _size_one_reshape(node: Any, flat: bool) -> bool:
    """A squeeze / unsqueeze that only adds or removes size-1 axes in front of the features of
    a flat model (its shapes from :func:`_shapes`): the same vector, so it is dropped."""
    if not flat or node.op not in ("call_function", "call_method") or \
            operation_name(node) not in _SIZE_ONE_RESHAPES:
        return False
    source = node.args[0] if node.args else None
    before = getattr(source, "meta", {}).get("tensor_meta")
    after = node.meta.get("tensor_meta")
    if before is None or after is None or not before.shape or not after.shape:
        return False
    return bool(before.shape[-1] == after.shape[-1]
                and before.shape.numel() == after.shape.numel())


def check_module(model: Any, io_type: str | None, where: str,
                 input_shape: tuple[int, ...] | None = None) -> Any:
    """The one check of a plain torch.nn model: every module, function and graph problem at
    once in one :class:`UnsupportedLayerError` (run-time shapes alone: InputShapeError).
    With ``input_shape``, squeezes and unsqueezes of size-1 axes in a flat model pass (they
    are dropped). Returns the traced GraphModule (shapes in each node's meta when
    ``input_shape`` is given)."""
    problems = module_problems(model, io_type, plain=True)
    try:
        module = trace(model, where)
    except UnsupportedLayerError as exc:
        raise_problems([*problems, str(exc)], where, io_type)
        raise
    skip: tuple[str, ...] = _SHAPE_METHODS
    inputs = [n for n in module.graph.nodes if n.op == "placeholder"]
    if input_shape is not None and len(inputs) == 1 and _flat_model(module):
        _shapes(module, input_shape, where)
        reshapes = [n for n in module.graph.nodes
                    if n.op in ("call_function", "call_method")
                    and operation_name(n) in _SIZE_ONE_RESHAPES]
        if all(_size_one_reshape(n, flat=True) for n in reshapes):
            skip += _SIZE_ONE_RESHAPES
    graph = _graph_problems(module, where)
    problems += function_problems(module.graph, io_type, skip=skip) + graph
    if problems and all("run time" in p for p in problems):
        raise InputShapeError(f"{where}: " + "; ".join(problems))
    raise_problems(problems, where, io_type)
    return module


def _shapes(module: Any, input_shape: tuple[int, ...], where: str) -> None:
    """Every node's output shape (``meta["tensor_meta"]``), from one run on zeros."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        with torch.no_grad():
            ShapeProp(module).propagate(torch.zeros(1, *input_shape))
    except Exception as exc:
        cause = exc.__cause__ or exc  # ShapeProp wraps the layer's own error
        raise InputShapeError(
            f"{where}: the model does not run on input_shape={input_shape} ("
            f"{type(cause).__name__}: {str(cause).splitlines()[0]}). Give the shape forward() "
            "expects, channels first, without the batch (kiln compile --input-shape)."
        ) from exc


def _global_pool(kind: str, input_node: Any) -> Any:
    from torch import nn

    spatial = tuple(int(d) for d in input_node.meta["tensor_meta"].shape[2:])
    kernel = spatial if kind.endswith("2d") else spatial[0]
    return getattr(nn, kind)(kernel)


def rewrite_module(model: Any, input_shape: tuple[int, ...], io_type: str | None,
                   where: str, warn: bool = False) -> Any:
    """The checked model as hls4ml converts it (a GraphModule): global adaptive pooling as a
    whole-image pool, an output LogSoftmax dropped (``warn``: say so, as a warning)."""
    module = check_module(model, io_type, where, input_shape)
    _shapes(module, input_shape, where)
    graph = module.graph
    flat = _flat_model(module)
    for node in list(graph.nodes):
        if _size_one_reshape(node, flat):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
        elif _is_log_softmax(module, node):
            if warn:
                name = node.target if node.op == "call_module" else node.name
                log.warning(LOG_SOFTMAX_NOTE.format(where=where, name=str(name)))
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
        elif node.op == "call_module" and _padded_average(module.get_submodule(node.target)):
            _split_padding(module, node)
        elif node.op == "call_module":
            kind = _ADAPTIVE.get(type(module.get_submodule(node.target)).__name__)
            if kind is not None:
                module.add_submodule(node.target, _global_pool(kind, node.args[0]))
        elif node.op == "call_function" and (kind := _function_pool(node)) is not None:
            module.add_submodule(node.name, _global_pool(kind, node.args[0]))
            with graph.inserting_after(node):
                pool = graph.call_module(node.name, (node.args[0],))
            node.replace_all_uses_with(pool)
            graph.erase_node(node)
    for node in graph.nodes:  # annotations (x: torch.Tensor) keep hls4ml from pickling it
        node.type = None
    graph.lint()
    module.delete_all_unused_submodules()
    module.recompile()
    return module


def _thresholded(x: Any, threshold: float, value: float) -> Any:
    """``x > threshold ? x : value``, in operators the TorchScript ONNX exporter takes."""
    import torch

    return torch.where(x > threshold, x, torch.full_like(x, value))


def exportable(module: Any) -> Any:
    """``module`` (a GraphModule from :func:`rewrite_module`) with every nn.Threshold and
    F.threshold written as :func:`_thresholded`: the same values, which the TorchScript ONNX
    exporter (it refuses a non-zero threshold) can export. For the ONNX reference of a plain
    model only; hls4ml converts the module before this."""
    import inspect

    graph = module.graph
    for node in list(graph.nodes):
        if node.op == "call_module" and type(module.get_submodule(node.target)).__name__ \
                == "Threshold":
            sub = module.get_submodule(node.target)
            threshold, value = sub.threshold, sub.value
        elif node.op == "call_function" and operation_name(node) == "_threshold":
            bound = inspect.signature(node.target).bind(*node.args, **node.kwargs)
            threshold, value = bound.arguments["threshold"], bound.arguments["value"]
        else:
            continue
        with graph.inserting_after(node):
            where = graph.call_function(_thresholded, (node.args[0], float(threshold),
                                                       float(value)))
        node.replace_all_uses_with(where)
        graph.erase_node(node)
    graph.lint()
    module.recompile()
    return module


def _padded_average(pool: Any) -> bool:
    """An AvgPool with padding whose average counts the padded zeros."""
    if type(pool).__name__ not in ("AvgPool1d", "AvgPool2d"):
        return False
    sizes = pool.padding if isinstance(pool.padding, tuple | list) else (pool.padding,)
    return bool(pool.count_include_pad) and any(int(p) != 0 for p in sizes)


def _split_padding(module: Any, node: Any) -> None:
    """An AvgPool with padding that counts the padded zeros (``count_include_pad``) as a
    ConstantPad of zeros, then the same pool without padding: the same sums over the same
    kernel, so the same values (hls4ml builds the pad as ZeroPadding)."""
    from torch import nn

    pool = module.get_submodule(node.target)
    two_d = type(pool).__name__ == "AvgPool2d"
    padding = pool.padding if isinstance(pool.padding, tuple | list) else (
        (pool.padding, pool.padding) if two_d else (pool.padding,))
    padding = tuple(int(p) for p in padding)
    if two_d:
        pad: nn.Module = nn.ConstantPad2d((padding[1], padding[1], padding[0], padding[0]), 0.0)
        bare: nn.Module = nn.AvgPool2d(pool.kernel_size, pool.stride)
    else:
        pad = nn.ConstantPad1d((padding[0], padding[0]), 0.0)
        bare = nn.AvgPool1d(pool.kernel_size, pool.stride)
    name = f"{node.target}_pad"
    module.add_submodule(name, pad)
    module.add_submodule(node.target, bare)
    with module.graph.inserting_before(node):
        padded = module.graph.call_module(name, (node.args[0],))
    node.args = (padded, *node.args[1:])


def _function_pool(node: Any) -> str | None:
    if node.op != "call_function":
        return None
    return _ADAPTIVE_FUNCTIONS.get(operation_name(node))


def _output_size(node: Any) -> Any:
    size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
    return tuple(size) if isinstance(size, list) else size
