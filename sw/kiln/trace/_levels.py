"""Collect a trace: each level's per-layer output codes for one batch of input codes."""

from __future__ import annotations

import logging
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
    outputs = prepare(graph, "cpu").trace(torch.from_numpy(codes))
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
    result = probe.run(codes.reshape(len(codes), -1), [Stream.of_stage(n.name) for n in nodes])
    out: Codes = {}
    unseen = [f"{name} (no stream named {name}_y in kiln_top)" for name in result.missing]
    n = len(codes)
    for node in nodes:
        if node.name in result.missing:
            continue
        elems, t = _beat_elems(graph, node), node.out_type
        beats = result.beats[node.name]
        if result.widths[node.name] != elems * t.width or len(beats) != n * node.size // elems:
            unseen.append(f"{node.name} (stream of {result.widths[node.name]} bits, "
                          f"{len(beats)} beats; expected {elems} x {t.width} bits, "
                          f"{n * node.size // elems} beats)")
            continue
        out[node.name] = result.codes(node.name, elems, t.width, t.signed).reshape(n, -1)
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


def reference_values(artifact: Artifact, codes: NDArray[Any]) -> Codes:
    """The framework model's float outputs of every layer kiln's IR names, channels-last and
    flattened (a Keras model; other frameworks raise KilnError)."""
    framework = artifact.manifest.framework
    if framework not in ("qkeras", "keras"):
        raise KilnError(f"per-layer outputs of a {framework} model are not traced yet "
                        "(Keras and QKeras models are)")
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
        except KilnError as exc:
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
