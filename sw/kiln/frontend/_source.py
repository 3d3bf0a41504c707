"""The one place that picks a front end: for a model to compile, and for the source an
artifact saved (by the framework its manifest records)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import ArtifactError, ModelLoadError
from kiln.frontend._base import MODEL_SUFFIXES, Source, check_model_path
from kiln.frontend._finite import check_finite
from kiln.frontend._keras import KerasSource
from kiln.frontend._torch import TorchSource, is_torch_model

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

SOURCES: tuple[type[Source], ...] = (KerasSource, TorchSource)


def source_type(model: Any) -> type[Source]:
    """The front end for ``model``: PyTorch/ONNX for a torch.nn.Module, an ONNX ModelProto
    or a .pt/.pth/.onnx path; Keras for everything else (it names what it cannot read)."""
    return TorchSource if is_torch_model(model) else KerasSource


def load_source(model: Any, options: BuildOptions,
                weights: str | os.PathLike[str] | None = None) -> Source:
    """Load ``model`` with its front end (see :func:`source_type`).

    Args:
        model: a model object or path.
        options: the build options (PyTorch models take their ``input_shape``).
        weights: weights .h5 for a Keras .json model.
    """
    if isinstance(model, str | os.PathLike):
        check_model_suffix(Path(model))
    return check_finite(source_type(model).load(model, options, weights))


def check_model_suffix(path: Path) -> None:
    """Refuse a model path whose suffix is no model format kiln reads, before a front end
    guesses at its contents (a missing, empty or directory path is named as such first).

    Raises:
        ModelLoadError: the path is missing, a directory, empty, or not a model format.
    """
    check_model_path(path)
    if path.suffix.lower() not in MODEL_SUFFIXES:
        kinds = ", ".join(f"{suffix} ({kind})" for suffix, kind in MODEL_SUFFIXES.items())
        what = f"its suffix {path.suffix!r}" if path.suffix else "it has no suffix"
        raise ModelLoadError(
            f"Model file {path}: {what} is not a model format kiln reads. kiln reads {kinds}. "
            "Give the saved model file (Keras: model.save('model.h5'); PyTorch: "
            "torch.jit.save or brevitas.export.export_qonnx to a .pt/.onnx), or rename the "
            "file if it is one of these with another suffix.")


def open_source(model_dir: Path, framework: str) -> Source:
    """The source an artifact saved into ``model_dir``, read by the front end of
    ``framework`` (the manifest's ``framework``)."""
    for source in SOURCES:
        if framework in source.FRAMEWORKS:
            return source.open(model_dir)
    known = [name for source in SOURCES for name in source.FRAMEWORKS]
    raise ArtifactError(
        f"{model_dir}: framework {framework!r} is not one kiln reads ({', '.join(known)}); "
        "recompile the model with `kiln compile`"
    )
