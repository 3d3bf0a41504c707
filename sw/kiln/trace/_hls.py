"""The HLS level of a trace: hls4ml's C simulation with every layer's output saved.

hls4ml's trace facility (``nnet::save_layer_output`` and the bridge's trace storage) needs
the project written with tracing on. An artifact's ``hls/`` was written without it, and
tracing must observe exactly the project the artifact holds (its weights headers included),
so kiln copies ``hls/`` into a cache folder keyed by the project's content, adds the
``save_layer_output`` call hls4ml's writer would add after each layer's call, and builds
that copy with the project's own ``build_lib.sh``. The artifact is never written to.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import KilnError
from kiln.fixed import from_float, to_float
from kiln.hls import PROJECT, find_library
from kiln.ir import Graph
from kiln.tools import require_tool, run_tool

log = logging.getLogger(__name__)

#: Added to the copied bridge: register a named buffer in hls4ml's trace storage and read
#: it back (the bridge's own ``allocate_trace_storage`` registers none, as tracing was off).
_BRIDGE_EXTRA = """
// kiln trace: named buffers in hls4ml's trace storage (nnet::trace_outputs).
extern "C" {
void kiln_trace_add(const char *name, size_t n) {
    nnet::trace_outputs->insert(std::pair<std::string, void *>(name, calloc(n, sizeof(double))));
}
const double *kiln_trace_get(const char *name) {
    std::map<std::string, void *>::iterator i = nnet::trace_outputs->find(name);
    return i == nnet::trace_outputs->end() ? NULL : (const double *)i->second;
}
}
"""
_CALL = re.compile(r"^(?P<indent>\s*)nnet::\w+<[^;]*>\((?P<args>[^;]*)\);\s*//\s*(?P<name>\S+)\s*$")
_ARRAY = re.compile(r"^\s*(?P<type>[\w:<>, ]+?)\s+(?P<var>\w+)\[[^\]]*\]\s*[;,)]?\s*$")
_STREAM = re.compile(r"^\s*hls::stream<(?P<type>[\w:]+)>\s*&?\s*(?P<var>\w+)\s*(?:[(;,)]|$)")
_ALIAS = re.compile(r"^\s*auto\s*&\s*(?P<var>\w+)\s*=\s*(?P<target>\w+)\s*;")
_SKIP_SUFFIXES = (".so", ".o")


@dataclass(frozen=True)
class TracedCall:
    """One layer call of the top function and the variable it writes."""

    line: int
    name: str
    var: str
    type: str


def _variables(lines: list[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Declared layer variables (name -> element type), aliases, and the top function's
    parameters in order."""
    types: dict[str, str] = {}
    aliases: dict[str, str] = {}
    params: list[str] = []
    in_signature = False
    for text in lines:
        if text.startswith(f"void {PROJECT}("):
            in_signature = True
            continue
        if in_signature and text.startswith(")"):
            in_signature = False
            continue
        match = _STREAM.match(text) or _ARRAY.match(text)
        if match:
            types[match["var"]] = match["type"]
            if in_signature:
                params.append(match["var"])
            continue
        alias = _ALIAS.match(text)
        if alias:
            aliases[alias["var"]] = alias["target"]
    return types, aliases, params


def traced_calls(source: str) -> list[TracedCall]:
    """Each layer call in the top function's source (``firmware/kiln_model.cpp``) with the
    variable it writes: the first argument that is a layer variable not written before
    (the first parameter, the model input, counts as written)."""
    lines = source.splitlines()
    types, aliases, params = _variables(lines)
    written = set(params[:1])
    calls = []
    for number, text in enumerate(lines):
        match = _CALL.match(text)
        if not match:
            continue
        args = [a.strip() for a in match["args"].split(",")]
        for arg in args:
            var = aliases.get(arg, arg)
            if var in types and var not in written:
                written.add(var)
                calls.append(TracedCall(number, match["name"], var, types[var]))
                break
    return calls


def instrument(source: str, sizes: dict[str, int]) -> tuple[str, dict[str, int]]:
    """``source`` with ``nnet::save_layer_output`` after the call of every layer in
    ``sizes`` (name -> elements), as hls4ml's writer adds it with tracing on; returns it
    and the layers it traces."""
    lines = source.splitlines()
    traced: dict[str, int] = {}
    for call in reversed(traced_calls(source)):
        if call.name not in sizes or call.name in traced:
            continue
        indent = _CALL.match(lines[call.line])["indent"]  # type: ignore[index]
        lines[call.line + 1:call.line + 1] = [
            "#ifndef __SYNTHESIS__",
            f'{indent}nnet::save_layer_output<{call.type}>({call.var}, "{call.name}", '
            f"{sizes[call.name]});",
            "#endif",
        ]
        traced[call.name] = sizes[call.name]
    return "\n".join(lines) + "\n", traced


def project_digest(hls_dir: Path) -> str:
    """SHA-256 of the HLS project's sources (every file but built objects)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in hls_dir.rglob("*") if p.is_file()):
        if path.suffix in _SKIP_SUFFIXES:
            continue
        digest.update(str(path.relative_to(hls_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _cache_root() -> Path:
    from kiln.sim._objcache import cache_root

    root = cache_root()
    return (root if root is not None else Path(tempfile.gettempdir()) / "kiln") / "trace-hls"


def build_traced(hls_dir: Path, graph: Graph,
                 cache: Path | None = None) -> tuple[Path, dict[str, int]]:
    """The traced C simulation of the project in ``hls_dir``: built once per project content
    into ``cache`` (default: the user's kiln cache), reused after. Returns the library and
    the layers it traces (name -> elements).

    Raises:
        ToolMissingError: g++ is not installed.
        ToolFailedError: the traced project did not compile.
        KilnError: the project's top function has no layer call kiln recognises.
    """
    root = (cache or _cache_root()) / project_digest(hls_dir)[:16]
    sizes = {node.name: node.size for node in graph.nodes[1:]}
    top = f"firmware/{PROJECT}.cpp"
    source, traced = instrument((hls_dir / top).read_text(), sizes)
    if not traced:
        raise KilnError(f"{hls_dir / top} has no layer call of the form "
                        "'nnet::f<...>(...); // layer' that kiln can trace")
    try:
        return find_library(root), traced
    except KilnError:
        pass
    gxx = require_tool("g++", needs="the traced HLS C simulation is built with it")
    work = root.parent / f".build-{root.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(hls_dir, work, ignore=shutil.ignore_patterns("*.so", "*.o"))
    (work / top).write_text(source)
    bridge = work / f"{PROJECT}_bridge.cpp"
    bridge.write_text(bridge.read_text() + _BRIDGE_EXTRA)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(gxx.path.parent), env.get("PATH", "")])
    log.info("trace: building the traced HLS C simulation of %s (%d layers) ...",
             hls_dir, len(traced))
    run_tool(["bash", "build_lib.sh"], cwd=work, env=env,
             what="traced hls4ml C simulation build (g++)")
    shutil.rmtree(root, ignore_errors=True)
    try:
        work.rename(root)
    except OSError:   # another process finished the same build first
        shutil.rmtree(work, ignore_errors=True)
    return find_library(root), traced


def trace_hls(hls_dir: Path, graph: Graph, codes: NDArray[Any],
              cache: Path | None = None) -> dict[str, NDArray[Any]]:
    """Every traced layer's output codes (samples, size) from the C simulation of
    ``hls_dir`` for input ``codes`` (samples, input size).

    Raises:
        KilnError: a layer output that is not a code of the layer's type.
    """
    library, traced = build_traced(hls_dir, graph, cache)
    lib = ctypes.CDLL(str(library))
    run = getattr(lib, f"{PROJECT}_double")
    lib.kiln_trace_add.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.kiln_trace_get.argtypes = [ctypes.c_char_p]
    lib.kiln_trace_get.restype = ctypes.POINTER(ctypes.c_double)
    lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
    nodes = {node.name: node for node in graph.nodes}
    values = np.ascontiguousarray(to_float(
        torch.from_numpy(codes.reshape(len(codes), -1)), graph.input.out_type).numpy())
    out = {name: np.zeros((len(codes), size)) for name, size in traced.items()}
    result = np.zeros(graph.output.size)
    ptr = ctypes.POINTER(ctypes.c_double)
    lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_double))
    try:
        for name, size in traced.items():
            lib.kiln_trace_add(name.encode(), size)
        for i in range(len(codes)):
            run(values[i].ctypes.data_as(ptr), result.ctypes.data_as(ptr))
            for name, size in traced.items():
                out[name][i] = np.ctypeslib.as_array(lib.kiln_trace_get(name.encode()),
                                                     shape=(size,))
    finally:
        lib.free_trace_storage()
    layers = {}
    for name, floats in out.items():
        t = nodes[name].out_type
        layer_codes = from_float(torch.from_numpy(floats), t).numpy()
        if not np.array_equal(to_float(torch.from_numpy(layer_codes), t).numpy(), floats):
            raise KilnError(f"The traced C simulation's output of layer {name!r} holds values "
                            f"that are not codes of its type {t}")
        layers[name] = layer_codes
    return layers
