"""Collect a trace: each level's per-layer output codes for one batch of input codes."""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.artifact import Artifact
from kiln.errors import KilnError
from kiln.fixed import from_float, prepare, to_float
from kiln.ir import Graph, Node, spatial
from kiln.trace._trace import LEVELS, Layer, Trace

log = logging.getLogger(__name__)
Codes = dict[str, NDArray[Any]]


def trace_fixed(graph: Graph, codes: NDArray[Any]) -> Codes:
    """kiln.fixed's output codes of every layer (its program, layer by layer, on the CPU)."""
    outputs = prepare(graph, "cpu").layers(torch.from_numpy(codes))
    return {node.name: outputs[node.name].numpy() for node in graph.nodes[1:]}


def trace_hls(artifact: Artifact, codes: NDArray[Any], cache: Path | None = None) -> Codes:
    """The C simulation's output codes of every layer its top function calls."""
    from kiln.trace._hls import trace_hls as run

    return run(artifact.path / "hls", artifact.graph, codes, cache)


def _beat_elems(graph: Graph, node: Node) -> int:
    """Elements in one beat of ``node``'s output stream: the whole output in io_parallel,
    one pixel's channels in io_stream."""
    return node.size if graph.io_type == "io_parallel" else spatial(node.shape)[2]


def trace_rtl(artifact: Artifact, codes: NDArray[Any],
              cache: Path | None = None) -> tuple[Codes, list[str]]:
    """The Verilated design's output codes of every layer whose stream kiln_top exposes
    (``<layer>_y``, ``_out_valid``, ``_ce``), and the layers it could not observe, with why."""
    from kiln.sim._probe import Probe, Stream

    graph = artifact.graph
    where = cache or artifact.path / "sim"
    try:
        probe = Probe.build(artifact.path / "rtl", where)
    except PermissionError as exc:
        raise KilnError(f"the RTL probe is built into {where}, which is not writable "
                        f"({exc.strerror}); pass cache= a writable folder") from exc
    nodes = list(graph.nodes[1:])
    streams = [Stream.of_stage(re.sub(r"\W", "_", n.name, flags=re.ASCII)) for n in nodes]
    result = probe.run(codes.reshape(len(codes), -1),
                       [dataclasses.replace(s, name=n.name) for s, n in zip(streams, nodes,
                                                                             strict=True)])
    out: Codes = {}
    unseen: list[str] = []
    n = len(codes)
    for k, node in enumerate(nodes):
        if node.name in result.missing:
            continue
        beats, width = result.beats[node.name], result.widths[node.name]
        # kiln.rtl may build a ReLU into the stage before it: that stage's stream then
        # carries the ReLU's output, and the ReLU has no stream of its own
        after = nodes[k + 1] if k + 1 < len(nodes) else None
        fused = after is not None and after.source == node.name and after.kind == "relu" \
            and after.name in result.missing
        for target in (node, after) if fused else (node,):
            assert target is not None
            elems, t = _beat_elems(graph, target), target.out_type
            if width == elems * t.width and len(beats) == n * target.size // elems:
                out[target.name] = result.codes(node.name, elems, t.width, t.signed
                                                ).reshape(n, -1)
                if target is not node:
                    unseen.append(f"{node.name} (built into one stage with {target.name}, "
                                  f"whose output its stream carries)")
                break
        else:
            elems, t = _beat_elems(graph, node), node.out_type
            unseen.append(f"{node.name} (stream of {width} bits, {len(beats)} beats; expected "
                          f"{elems} x {t.width} bits, {n * node.size // elems} beats)")
    unseen += [f"{name} (no stream {name}_y in kiln_top)" for name in result.missing
               if name not in out]
    return out, unseen


def _keras_outputs(model: Any, graph: Graph) -> dict[str, str]:
    """IR layer -> the Keras layer whose output it is. hls4ml splits a layer's built-in
    activation into a node ``<layer>_<activation>`` after it: the Keras output is that one."""
    names = {layer.name for layer in model.layers}
    by_source = {node.source: node for node in graph.nodes[1:]}
    mapping: dict[str, str] = {}
    for node in graph.nodes[1:]:
        if node.name not in names:
            continue
        last = node
        while (nxt := by_source.get(last.name)) is not None and \
                nxt.name.startswith(node.name + "_") and nxt.name not in names:
            last = nxt
        mapping[last.name] = node.name
    return mapping


def _keras_values(artifact: Artifact, codes: NDArray[Any]) -> Codes:
    from tensorflow import keras

    from kiln.frontend import KerasSource

    graph = artifact.graph
    model = KerasSource.open(artifact.path / "model").model
    mapping = _keras_outputs(model, graph)
    if not mapping:
        return {}
    probe = keras.Model(model.inputs, [model.get_layer(k).output for k in mapping.values()])
    x = to_float(torch.from_numpy(codes.reshape(len(codes), -1)), graph.input.out_type).numpy()
    x = x.reshape((len(codes), *graph.input.shape)).astype(np.float32)
    outputs = probe.predict(x, verbose=0, batch_size=1024)
    if len(mapping) == 1:
        outputs = [outputs]
    return {name: np.asarray(y, dtype=np.float64).reshape(len(codes), -1)
            for name, y in zip(mapping, outputs, strict=True)}


def _onnx_tensors(model: Any, graph: Graph) -> dict[str, str]:
    """IR layer -> the (Q)ONNX tensor that holds its output.

    hls4ml names a layer after its ONNX node (a MatMul or Conv merged with its bias Add as
    ``Dense_<node>`` / ``Conv2D_<node>``...). The layer's output is that node's, carried on
    through the bias ``Add`` of a MatMul or Conv and through ``Quant`` nodes that only give
    it its type (a Quant with a layer of its own is that layer)."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {node.name: node for node in model.graph.node}
    ir_names = {n.name for n in graph.nodes}
    tensors: dict[str, str] = {}
    for layer in graph.nodes[1:]:
        onnx_name = layer.name if layer.name in by_name else layer.name.partition("_")[2]
        start = by_name.get(onnx_name)
        if start is None or not start.output:
            continue
        tensor = start.output[0]
        while len(nxt := consumers.get(tensor, [])) == 1 and nxt[0].name not in ir_names and (
                nxt[0].op_type == "Quant" and nxt[0].input[0] == tensor
                or nxt[0].op_type == "Add" and start.op_type in ("MatMul", "Gemm", "Conv")):
            tensor = nxt[0].output[0]
        tensors[layer.name] = tensor
    return tensors


def _onnx_values(artifact: Artifact, codes: NDArray[Any]) -> Codes:
    """The saved (Q)ONNX model's tensors, sample by sample (its batch is 1). kiln saves a
    convolutional network channels-last (qonnx's channels-last ops), as the hardware takes
    it; a channels-first model's tensors are moved channels-last."""
    import onnx
    import onnxruntime
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    graph = artifact.graph
    model = onnx.load(str(artifact.path / "model" / "source.onnx"))
    tensors = _onnx_tensors(model, graph)
    if not tensors:
        return {}
    wrapper = ModelWrapper(model)
    in_name = model.graph.input[0].name
    in_shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = to_float(torch.from_numpy(codes.reshape(len(codes), -1)), graph.input.out_type).numpy()
    x = x.reshape((len(codes), *graph.input.shape)).astype(np.float32)
    first = len(in_shape) > 1 and tuple(in_shape) != tuple(graph.input.shape)
    if first:
        x = np.moveaxis(x, -1, 1)
    out: dict[str, list[NDArray[Any]]] = {name: [] for name in tensors}
    onnxruntime.set_default_logger_severity(3)   # its per-node opset warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sample in x.reshape(len(x), *in_shape):
            context = execute_onnx(wrapper, {in_name: sample[None]},
                                   return_full_exec_context=True)
            for name, tensor in tensors.items():
                value = np.asarray(context[tensor], dtype=np.float64)[0]
                if first and value.ndim > 1:
                    value = np.moveaxis(value, 0, -1)
                out[name].append(value.reshape(-1))
    return {name: np.stack(rows) for name, rows in out.items()
            if rows and rows[0].size == graph.node(name).size}


def reference_values(artifact: Artifact, codes: NDArray[Any]) -> Codes:
    """The framework model's float outputs of every layer kiln's IR names, channels-last and
    flattened: a Keras model's layers, or a PyTorch model's saved (Q)ONNX form's tensors."""
    framework = artifact.manifest.framework
    if framework in ("qkeras", "keras"):
        return _keras_values(artifact, codes)
    if (artifact.path / "model" / "source.onnx").is_file():
        return _onnx_values(artifact, codes)
    raise KilnError(f"per-layer outputs of a {framework} model without model/source.onnx "
                    "are not traced")


def _reference_codes(graph: Graph, values: Codes) -> Codes:
    return {name: from_float(torch.from_numpy(v), graph.node(name).out_type).numpy()
            for name, v in values.items()}


def collect(artifact: Artifact, codes: NDArray[Any], levels: Iterable[str] = LEVELS,
            cache: Path | None = None) -> Trace:
    """Trace input ``codes`` (samples, input size) through ``levels`` of ``artifact``.

    A level that cannot run here (a tool missing, a framework not traced) is skipped and
    :attr:`Trace.skipped` says why; the others still run.

    Raises:
        KilnError: a level name that is not one of :data:`LEVELS`.
    """
    wanted = list(levels)
    unknown = [lv for lv in wanted if lv not in LEVELS]
    if unknown:
        raise KilnError(f"Unknown trace level(s) {', '.join(map(repr, unknown))}; choose from "
                        f"{', '.join(LEVELS)}")
    graph = artifact.graph
    codes = np.ascontiguousarray(codes, dtype=np.int64).reshape(len(codes), -1)
    found: dict[str, Codes] = {}
    skipped: dict[str, str] = {}
    ref_values: Codes = {}

    def attempt(level: str, run: Callable[[], Codes]) -> None:
        try:
            found[level] = run()
        except (KilnError, OSError) as exc:   # OSError: a cache folder it cannot write
            log.warning("trace: level %s skipped: %s", level, exc)
            skipped[level] = f"not traced: {exc}"

    if "reference" in wanted:
        def reference() -> Codes:
            ref_values.update(reference_values(artifact, codes))
            return _reference_codes(graph, ref_values)

        attempt("reference", reference)
    if "fixed" in wanted:
        attempt("fixed", lambda: trace_fixed(graph, codes))
    if "hls" in wanted:
        attempt("hls", lambda: trace_hls(artifact, codes,
                                         None if cache is None else cache / "trace-hls"))
    if "rtl" in wanted:
        def rtl() -> Codes:
            out, unseen = trace_rtl(artifact, codes, cache)
            if unseen:
                skipped["rtl"] = "layers not observed: " + "; ".join(unseen)
            return out

        attempt("rtl", rtl)
    for level, layer_codes in found.items():
        seen = set(layer_codes)
        missing = [n.name for n in graph.nodes[1:] if n.name not in seen]
        if missing and level not in skipped:
            skipped[level] = f"layers not observed: {', '.join(missing)}"
    layers = tuple(Layer(n.name, n.kind, n.out_type, tuple(n.shape)) for n in graph.nodes[1:])
    return Trace(graph.name, layers, found, len(codes), ref_values,
                 artifact.manifest.reference_bit_exact, skipped)
