"""What every front end shares: the :class:`Source` protocol that the compile pipeline and
the runtime's reference device call, and the hls4ml settings common to every converter."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

from numpy.typing import NDArray

from kiln.errors import KilnError

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions
    from kiln.ir import Graph

InputLayout = Literal["channels_last", "channels_first"]
#: The framework model as a function: a float batch in the hardware's (channels-last)
#: layout -> float outputs, one row per sample.
Reference = Callable[[NDArray[Any]], NDArray[Any]]


class Source(Protocol):
    """A framework model loaded by one front end (:class:`KerasSource`, :class:`TorchSource`).

    The compile pipeline reads a model only through this protocol, and the runtime's
    ``reference`` device runs the source an artifact saved through it.
    """

    #: Framework names (``Manifest.framework``) this front end's sources report.
    FRAMEWORKS: ClassVar[tuple[str, ...]]
    #: The file name :meth:`save` writes into an artifact's ``model/``.
    SAVED_AS: ClassVar[str]

    @property
    def digest(self) -> str:
        """SHA-256 of what the model was loaded from (its files or its weights)."""
        ...

    @property
    def framework(self) -> str:
        """The framework name recorded in the manifest, one of :attr:`FRAMEWORKS`."""
        ...

    @property
    def input_layout(self) -> InputLayout:
        """How the framework lays out one (image) sample."""
        ...

    @classmethod
    def load(cls, model: Any, options: BuildOptions,
             weights: str | os.PathLike[str] | None = None) -> Self:
        """Read ``model`` (an object or a path); ``weights`` for a Keras .json model."""
        ...

    @classmethod
    def open(cls, model_dir: Path) -> Self:
        """The source an artifact saved into ``model_dir`` with :meth:`save`."""
        ...

    def save(self, model_dir: Path) -> Path:
        """Write the model into an artifact's ``model_dir``; returns the file written."""
        ...

    def convert(self, output_dir: Path, options: BuildOptions) -> Any:
        """An hls4ml ModelGraph of the model (Vivado backend) in ``output_dir``."""
        ...

    def reference_is_bit_exact(self, options: BuildOptions) -> bool:
        """Whether the framework model defines every type, so that kiln demands equality."""
        ...

    def reference(self) -> Reference:
        """The framework model as a function (the runtime's ``reference`` device)."""
        ...


def set_reuse_factors(config: dict[str, Any], options: BuildOptions, where: str) -> None:
    """Give the layers that ``options`` names their own reuse factor in an hls4ml
    configuration made with ``granularity="name"``, refusing names the model lacks. A folded
    layer (reuse factor above 1) gets hls4ml's Resource strategy, whose C simulation is the
    reference for kiln's folded RTL."""
    layers = config.setdefault("LayerName", {})
    named = options.layer_reuse_factors
    # hls4ml's (Q)ONNX converter turns node MatMul_0 (with its Add) into layer Dense_MatMul_0
    # and Conv_0 into Conv2D_Conv_0; kiln's IR and the reuse factors use these layer names,
    # while the new layer takes its reuse factor from the node's entry.
    derived = {f"{kind}_{node}": node for node in layers
               for kind in ("Dense", "Conv1D", "Conv2D")}
    unknown = sorted(set(named) - set(layers) - set(derived))
    if unknown:
        raise KilnError(
            f"{where}: reuse_factor names layer(s) {unknown} that the model does not have; "
            f"its layers: {', '.join(layers)}"
        )
    if options.default_reuse_factor > 1:
        config.setdefault("Model", {})["Strategy"] = "Resource"
    for name, factor in named.items():
        for entry in {name, derived.get(name, name)}:
            layers.setdefault(entry, {})["ReuseFactor"] = factor
            if factor > 1:
                layers[entry]["Strategy"] = "Resource"


MODEL_SUFFIXES = {".h5": "Keras", ".hdf5": "Keras", ".keras": "Keras",
                  ".json": "Keras (with its weights .h5)",
                  ".pt": "PyTorch", ".pth": "PyTorch", ".onnx": "ONNX/QONNX"}


def check_model_path(path: Path) -> None:
    """Refuse a model path that is no readable model file, saying what it is instead (missing,
    a directory, empty) and what to give.

    Raises:
        ModelLoadError: the path is missing, a directory or an empty file.
    """
    from kiln.errors import ModelLoadError

    kinds = ", ".join(f"{suffix} ({kind})" for suffix, kind in MODEL_SUFFIXES.items())
    if path.is_dir():
        if (path / "kiln.json").is_file():
            raise ModelLoadError(
                f"{path} is a kiln artifact, not a model. Load it with kiln.load({str(path)!r}) "
                f"(kiln verify / predict {path}), or compile the model it was built from.")
        if (path / "saved_model.pb").is_file():
            raise ModelLoadError(
                f"{path} is a TensorFlow SavedModel directory, which kiln does not read. Save "
                "the Keras model as one file: model.save('model.h5').")
        found = sorted(p.name for p in path.iterdir() if p.suffix.lower() in MODEL_SUFFIXES)
        inside = (f" It holds {', '.join(found[:5])}{' ...' if len(found) > 5 else ''}: give "
                  f"one of them, e.g. {path / found[0]}." if found else
                  " It holds no model file.")
        raise ModelLoadError(f"Model path {path} is a directory, not a model file.{inside} "
                             f"kiln reads {kinds}.")
    if not path.exists():
        raise ModelLoadError(
            f"Model file {path} does not exist (looked in {path.absolute().parent}). Check the "
            f"path; kiln reads {kinds}.")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelLoadError(
            f"Model file {path} is empty (0 bytes): the save or copy did not finish. Save or "
            "export the model again.")


#: Significant bits a float32 holds exactly (its 24-bit significand).
FLOAT32_BITS = 24


def float32_exact(graph: Graph) -> bool:
    """Whether the framework model's float32 arithmetic can equal ``graph`` exactly: every
    result and accumulator type fits float32's 24-bit significand. A wider sum (power-of-two
    weights up to 2^18, say) is rounded by the framework, so equality with it is measured,
    never claimed."""
    from kiln.ir import Conv, Dense, Pool

    for node in graph.nodes:
        types = [node.out_type]
        if isinstance(node, Dense | Conv) or (isinstance(node, Pool) and node.op == "average"):
            types.append(node.accum_type)  # a max pool's accumulator field is unused
        if any(t.width - t.signed > FLOAT32_BITS for t in types):
            return False
    return True
