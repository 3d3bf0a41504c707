"""Load PyTorch models (Brevitas QAT, plain torch.nn, TorchScript, (Q)ONNX) and convert them
to an hls4ml ModelGraph, which :func:`kiln.frontend.lower` then lowers like any other.

Brevitas models go through their QONNX export and hls4ml's ONNX reader (``_onnx.py``
checks every quantizer first); plain ``torch.nn`` models through hls4ml's PyTorch converter
with one user-given fixed-point ``precision``; TorchScript files through the ONNX exporter.
``input_shape`` never includes the batch; it is PyTorch's channels-first shape, and the
hardware input is channels-last (hls4ml's layout).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kiln.errors import (
    InputShapeError,
    KilnError,
    ModelLoadError,
    PrecisionError,
    UnsupportedLayerError,
)
from kiln.frontend._base import InputLayout, Reference, check_model_path, set_reuse_factors
from kiln.frontend._float import type_softmax_inputs
from kiln.frontend._onnx import (
    PreparedOnnx,
    convert_onnx,
    default_describe,
    is_qonnx,
    layer_and_role,
    prepare_onnx,
    quiet,
    run_onnx,
    suggest_quantizer,
)
from kiln.frontend._torch_check import (
    SUPPORTED_TORCH_LAYERS,
    module_problems,
    raise_problems,
)
from kiln.frontend._torch_graph import check_module, exportable, rewrite_module

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

log = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pt", ".pth", ".onnx")
_MAX_SHAPE_TRIES = 256  # forward passes spent looking for an input_shape the model runs on
KINDS = ("brevitas", "torch", "torchscript", "qonnx", "onnx")


@dataclass(frozen=True)
class TorchSource:
    """A loaded PyTorch-side model, the hash of what it was loaded from, and how to read it
    (a :class:`Source`).

    ``kind``: ``brevitas`` (torch.nn.Module with Brevitas layers), ``torch`` (plain
    torch.nn.Module), ``torchscript``, ``qonnx`` (ONNX with Quant nodes) or ``onnx``.
    ``model`` is the module, or an ``onnx.ModelProto`` for the ONNX kinds. ``prepared``: the
    model is already the checked, cleaned, channels-last (Q)ONNX that :meth:`save` writes.
    """

    FRAMEWORKS: ClassVar[tuple[str, ...]] = KINDS
    SAVED_AS: ClassVar[str] = "source.onnx"

    model: Any
    digest: str
    files: tuple[Path, ...]
    kind: str
    input_shape: tuple[int, ...] | None
    prepared: bool = False

    @property
    def framework(self) -> str:
        return self.kind

    @property
    def input_layout(self) -> InputLayout:
        return "channels_first"

    @classmethod
    def load(cls, model: Any, options: BuildOptions,
             weights: str | os.PathLike[str] | None = None) -> TorchSource:
        """:func:`load_torch` with the options' ``input_shape`` (``weights`` is for Keras),
        then the one layer check for ``options.io_type`` (:func:`check_source`)."""
        source = load_torch(model, options.input_shape)
        check_source(source, options.io_type)
        return source

    @classmethod
    def open(cls, model_dir: Path) -> TorchSource:
        """The cleaned (Q)ONNX an artifact saved (``model/source.onnx``)."""
        return replace(load_torch(model_dir / cls.SAVED_AS), prepared=True)

    def save(self, model_dir: Path) -> Path:
        return save_torch_source(self, model_dir / self.SAVED_AS)

    def convert(self, output_dir: Path, options: BuildOptions) -> Any:
        return convert_torch(self, output_dir, options)

    def reference_is_bit_exact(self, options: BuildOptions) -> bool:
        return torch_reference_is_bit_exact(self, options)

    def reference(self) -> Reference:
        """qonnx's executor on the cleaned (Q)ONNX form (:func:`run_onnx`)."""
        model = self.model if self.prepared else prepare_torch(self).model.model
        return lambda x: run_onnx(model, x)

    @property
    def name(self) -> str:
        if self.files:
            return self.files[0].stem
        return type(self.model).__name__ if self.kind in ("brevitas", "torch") else "onnx_model"

    @property
    def where(self) -> str:
        if self.files:
            return f"{self.kind} model {self.files[0].name}"
        if self.kind in ("qonnx", "onnx"):
            return f"{self.kind.upper()} model"
        return f"{'Brevitas' if self.kind == 'brevitas' else 'PyTorch'} model {self.name!r}"


def _torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_torch_model(obj: Any) -> bool:
    """Whether kiln.compile should read ``obj`` with this front end: a torch.nn.Module, an
    onnx ModelProto, or a path ending in .pt, .pth or .onnx."""
    if isinstance(obj, str | os.PathLike):
        return Path(obj).suffix.lower() in TORCH_SUFFIXES
    return _torch_module(obj) or type(obj).__name__ in ("ModelProto", "ModelWrapper")


def is_brevitas(model: Any) -> bool:
    return any(type(m).__module__.startswith("brevitas.") for m in model.modules())


def check_input_shape(input_shape: Any, where: str, required: bool) -> tuple[int, ...] | None:
    """``input_shape`` as a tuple of positive ints (batch excluded); dynamic sizes refused."""
    if input_shape is None:
        if required:
            raise InputShapeError(
                f"{where}: PyTorch models carry no input shape; give input_shape=(64,) "
                "(kiln compile --input-shape 64), without the batch dimension"
            )
        return None
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    for i, size in enumerate(shape):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InputShapeError(
                f"{where}: input_shape={shape} has dynamic or invalid dimension {i} ({size!r}); "
                "kiln builds fixed-size hardware, so give every dimension as a positive "
                "integer (batch excluded)"
            )
    if not shape:
        raise InputShapeError(f"{where}: input_shape is empty; give e.g. (64,)")
    return shape


def _module_digest(model: Any) -> str:
    digest = hashlib.sha256()
    digest.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    digest.update(str(getattr(model, "code", "")).encode())  # TorchScript: its forward()
    for name, module in model.named_modules():
        for attr in ("weight_quant", "bias_quant", "act_quant", "input_quant", "output_quant"):
            injector = getattr(getattr(module, attr, None), "quant_injector", None)
            if injector is not None:
                digest.update(f"{name}.{attr}={injector.__name__}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        if not hasattr(tensor, "dtype"):  # torch-quantized packed parameters: refused later
            digest.update(f"{name}:{tensor!r}".encode())
            continue
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_pt(path: Path) -> tuple[Any, str]:
    import torch

    try:
        scripted = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        return scripted, "torchscript"
    except Exception as script_error:
        log.debug("%s is not TorchScript (%s); trying a pickled module", path, script_error)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(
            f"Cannot read PyTorch model {path}: {type(exc).__name__}: {exc}. kiln reads "
            "TorchScript (torch.jit.save), a whole pickled module (torch.save(model), its "
            "classes importable) or a QONNX/ONNX export (.onnx)."
        ) from exc
    if isinstance(obj, dict):
        raise ModelLoadError(
            f"{path} holds a state_dict (weights only), not a model. Build the model and pass "
            "the object to kiln.compile, or save it whole: torch.jit.save(torch.jit.script(m)) "
            "for plain torch, brevitas.export.export_qonnx(m, x, export_path='m.onnx') for "
            "Brevitas."
        )
    if not _torch_module(obj):
        raise ModelLoadError(f"{path} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj, "brevitas" if is_brevitas(obj) else "torch"


def _load_onnx(path: Path) -> Any:
    import onnx

    fix = ("Is the file complete and an ONNX export? Export it again: "
           "brevitas.export.export_qonnx(model, x, export_path='m.onnx') for Brevitas, "
           "torch.onnx.export(model, (x,), 'm.onnx') for plain torch.")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"Cannot read ONNX model {path}: {type(exc).__name__}: {exc}. "
                             f"{fix}") from exc
    if not proto.graph.node or not proto.graph.input:
        raise ModelLoadError(
            f"Cannot read ONNX model {path}: it parses, but holds {len(proto.graph.node)} "
            f"nodes and {len(proto.graph.input)} inputs (not an ONNX model, or cut short). "
            f"{fix}")
    return proto


def load_torch(model: Any, input_shape: Any = None) -> TorchSource:
    """Accept a torch.nn.Module (Brevitas or plain), an onnx ModelProto, or a path to
    TorchScript / a pickled module (``.pt``, ``.pth``) or a QONNX/ONNX export (``.onnx``).

    ``input_shape`` (batch excluded) is required for modules and TorchScript; ONNX files
    carry theirs (a given one must match).
    """
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        check_model_path(path)
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist; give a .pt (TorchScript), .onnx or .h5 path"
            )
        if path.suffix.lower() == ".onnx":
            proto = _load_onnx(path)
            kind = "qonnx" if is_qonnx(proto) else "onnx"
            shape = check_input_shape(input_shape, str(path), required=False)
            return TorchSource(proto, hashlib.sha256(path.read_bytes()).hexdigest(), (path,),
                               kind, shape)
        if path.suffix.lower() not in (".pt", ".pth"):
            raise ModelLoadError(f"{path}: not a PyTorch model file (.pt, .pth or .onnx)")
        loaded, kind = _load_pt(path)
        shape = check_input_shape(input_shape, str(path), required=True)
        return TorchSource(loaded, hashlib.sha256(path.read_bytes()).hexdigest(), (path,),
                           kind, shape)
    if type(model).__name__ == "ModelWrapper":
        model = model.model
    if type(model).__name__ == "ModelProto":
        shape = check_input_shape(input_shape, "ONNX model", required=False)
        digest = hashlib.sha256(model.SerializeToString()).hexdigest()
        return TorchSource(model, digest, (), "qonnx" if is_qonnx(model) else "onnx", shape)
    if not _torch_module(model):
        raise ModelLoadError(
            f"kiln got a {type(model).__name__}, not a torch.nn.Module, ONNX model or path"
        )
    if type(model).__name__ in ("RecursiveScriptModule", "ScriptModule", "TopLevelTracedModule"):
        kind = "torchscript"
    else:
        kind = "brevitas" if is_brevitas(model) else "torch"
    where = f"PyTorch model {type(model).__name__!r}"
    shape = check_input_shape(input_shape, where, required=True)
    return TorchSource(model, _module_digest(model), (), kind, shape)


def check_torch_layers(model: Any, io_type: str | None = None, where: str | None = None
                       ) -> None:
    """Refuse a model with modules kiln cannot build, listing every one at once, each with
    its path, type and the one fix (:func:`module_problems`). Containers are walked into;
    Brevitas layers are checked whole (not their quant proxies). Convolutional-network
    layers pass with ``io_type`` "io_stream" or None (not yet chosen).

    Raises:
        UnsupportedLayerError: one or more modules kiln cannot build.
    """
    where = where or f"PyTorch model {type(model).__name__!r}"
    raise_problems(module_problems(model, io_type), where, io_type)


def check_source(source: TorchSource, io_type: str | None = None) -> None:
    """The one check of a module source before any export or conversion: every module (and,
    for plain torch.nn, every function and graph problem) kiln cannot build, at once."""
    if source.kind == "torch":
        check_module(source.model, io_type, source.where, source.input_shape)
    elif source.kind == "brevitas":
        check_torch_layers(source.model, io_type, source.where)


def _module_as_built(source: TorchSource, io_type: str | None = None, warn: bool = False
                     ) -> Any:
    """A plain torch.nn source's module as kiln builds it (:func:`rewrite_module`; ``warn``:
    log what was changed); other kinds' model unchanged."""
    if source.kind != "torch":
        return source.model
    shape = check_input_shape(source.input_shape, source.where, required=True) or ()
    return rewrite_module(source.model, shape, io_type, source.where, warn)


def _brevitas_describe(model: Any) -> Any:
    """Name Quant nodes after their Brevitas layer, its type and its quantizer class."""

    def describe(node: Any, signed: bool) -> tuple[str, str]:
        layer, role = layer_and_role(node.name)
        try:
            module = model.get_submodule(layer) if layer else None
        except AttributeError:
            module = None
        if module is None or not role:
            return default_describe(node, signed)
        injector = getattr(getattr(module, role, None), "quant_injector", None)
        quantizer = f" {injector.__name__}" if injector is not None else ""
        return (f"layer {layer!r} ({type(module).__name__}) {role}{quantizer}",
                suggest_quantizer(role, signed))

    return describe


def _expected_shape(model: Any, shape: tuple[int, ...]) -> str:
    """What input_shape the model runs on, if one is easily found: the first layer's input
    size for a flat model, else the first length of the last dimension (1 to 4x the given
    one, at most :data:`_MAX_SHAPE_TRIES` runs) that runs."""
    import torch

    first = next((m for m in model.modules() if hasattr(m, "in_features")
                  or hasattr(m, "in_channels")), None)
    if first is not None and hasattr(first, "in_features") and len(shape) == 1:
        return f" It expects input_shape=({int(first.in_features)},)."
    with _probing(model):
        for length in range(1, min(4 * shape[-1], _MAX_SHAPE_TRIES) + 1):
            candidate = (*shape[:-1], length)
            try:
                model(torch.zeros(1, *candidate))
            except Exception:  # noqa: S112  # any failure: not a shape it runs on
                continue
            return f" It runs on input_shape={candidate}."
    return ""


@contextlib.contextmanager
def _probing(model: Any) -> Iterator[None]:
    """Run ``model`` for a check without changing it: eval mode (a Brevitas quantizer in
    training mode would learn its scale from the probe's zeros), no gradients, the modules'
    training flags restored after."""
    import torch

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), quiet("torch"):
            yield
    finally:
        for module, training in modes:
            module.training = training


def _layers(model: Any) -> list[tuple[str, Any]]:
    """The named layers of a module: Brevitas layers whole (not their quant proxies), and
    every other leaf module."""
    brevitas = [n for n, m in model.named_modules()
                if n and type(m).__module__.startswith("brevitas.nn")]
    return [(n, m) for n, m in model.named_modules() if n and (
        n in brevitas or (not any(True for _ in m.children())
                          and not any(n.startswith(f"{b}.") for b in brevitas)))]


def check_runs(model: Any, shape: tuple[int, ...], where: str) -> None:
    """Refuse an ``input_shape`` the module does not run on, naming the module that fails,
    what it received and a shape it runs on, before the ONNX exporter hides the cause.

    Raises:
        InputShapeError: forward() fails on zeros of ``(1, *shape)``.
    """
    import torch

    entered: list[tuple[str, Any, tuple[int, ...]]] = []

    def record(name: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            first = args[0] if args else None
            entered.append((name, module, tuple(getattr(first, "shape", ()))))
        return hook

    handles = []
    try:
        handles = [m.register_forward_pre_hook(record(n)) for n, m in _layers(model)]
    except Exception as exc:  # TorchScript modules take no hooks: the cause alone is named
        log.debug("no forward hooks on %s: %s", where, exc)
    try:
        with _probing(model):
            model(torch.zeros(1, *shape))
        return
    except Exception as exc:
        cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        failed = ""
        if entered:
            name, module, received = entered[-1]
            expects = [f"{a}={getattr(module, a)}" for a in ("in_features", "in_channels")
                       if hasattr(module, a)]
            failed = (f" Module {name!r} ({type(module).__name__}"
                      f"{', ' + ', '.join(expects) if expects else ''}) failed on an input of "
                      f"shape {received} ({cause}).")
        else:
            failed = f" ({cause})."
    finally:
        for handle in handles:
            handle.remove()
    raise InputShapeError(
        f"{where}: the model does not run on input_shape={shape}.{failed}"
        f"{_expected_shape(model, shape)} Give the shape forward() expects, channels first, "
        "without the batch (kiln compile --input-shape)."
    )


def tensor_output(model: Any, shape: tuple[int, ...]) -> Any:
    """``model``, or a copy whose output layer returns a plain tensor where it returned a
    Brevitas QuantTensor (``return_quant_tensor=True`` on the last layer).

    Brevitas then exports the output's bit-width arithmetic (Log, Div, Ceil, Where, ...) into
    the QONNX graph, operators no hardware builds; the output values are the same either
    way, so the layer that produced it is exported without them."""
    import copy

    import torch

    called: list[str] = []
    handles = [m.register_forward_hook(lambda *_, n=n: called.append(n))
               for n, m in _layers(model) if hasattr(m, "return_quant_tensor")]
    try:
        with _probing(model):
            out = model(torch.zeros(1, *shape))
    finally:
        for handle in handles:
            handle.remove()
    if not hasattr(out, "value") or not called:
        return model
    plain = copy.deepcopy(model)
    last = plain.get_submodule(called[-1])
    log.debug("%s returns a QuantTensor: exported with return_quant_tensor=False",
              called[-1])
    last.return_quant_tensor = False
    return plain


def _export_onnx(source: TorchSource) -> Any:
    """The ONNX model of a source: QONNX export for Brevitas, the TorchScript ONNX exporter
    for plain torch and TorchScript, the model itself for ONNX kinds."""
    import onnx
    import torch

    if source.kind in ("qonnx", "onnx"):
        return source.model
    model, where = _module_as_built(source, warn=True), source.where
    if source.kind == "torch":
        model = exportable(model)
    shape = check_input_shape(source.input_shape, where, required=True) or ()
    dummy = torch.zeros(1, *shape)
    if source.kind == "torchscript":
        names = {getattr(m, "original_name", "") for m in model.modules()}
        brevitas = sorted(n for n in names if n.startswith("Quant"))
        if brevitas:
            raise UnsupportedLayerError(
                f"{where} is TorchScript with Brevitas layers ({', '.join(brevitas)}); "
                "TorchScript loses their quantizers. Export with brevitas.export.export_qonnx("
                "model, x, export_path='model.onnx') and compile the .onnx."
            )
    check_runs(model, shape, where)
    try:
        with quiet("torch.onnx"), torch.no_grad():
            if source.kind == "brevitas":
                from brevitas.export import export_qonnx

                return export_qonnx(tensor_output(model, shape), dummy, dynamo=False)
            buffer = io.BytesIO()
            torch.onnx.export(model, (dummy,), buffer,  # type: ignore[arg-type]  # a file
                              dynamo=False)
            return onnx.load_from_string(buffer.getvalue())
    except KilnError:
        raise
    except Exception as exc:
        raise UnsupportedLayerError(
            f"{where}: ONNX export failed ({type(exc).__name__}: {exc}). Layers and functions "
            f"kiln builds: {', '.join(SUPPORTED_TORCH_LAYERS)}."
        ) from exc


def prepare_torch(source: TorchSource) -> PreparedOnnx:
    """The checked, cleaned (Q)ONNX form of a source (what hls4ml's ONNX reader converts)."""
    check_source(source)
    describe = _brevitas_describe(source.model) if source.kind == "brevitas" else default_describe
    # A plain torch.nn model's ONNX form is only its reference (hls4ml's PyTorch converter
    # builds the hardware from the module).
    return prepare_onnx(_export_onnx(source), source.input_shape, source.where, describe,
                        reference_only=source.kind == "torch")


def _convert_pytorch(source: TorchSource, output_dir: Path, options: BuildOptions) -> Any:
    """A plain torch.nn.Module through hls4ml's PyTorch converter, every type ``precision``."""
    import hls4ml

    where, precision = source.where, options.precision
    if precision is None:
        raise PrecisionError(
            f"{where} is a plain PyTorch (float) model and no precision was given. Train it "
            "with Brevitas power-of-two quantizers (e.g. Int8WeightPerTensorFixedPoint), or "
            "pass precision='fixed<16,6>' (kiln compile --precision) to choose a fixed-point "
            "type for every tensor."
        )
    module = _module_as_built(source, options.io_type, warn=True)
    input_name = next(n.name for n in module.graph.nodes if n.op == "placeholder")
    try:
        with quiet("hls4ml"):
            # The input arrives channels-last (the runtime moves PyTorch's channels last), so
            # hls4ml converts only the layers, adding no input transpose.
            config = hls4ml.utils.config_from_pytorch_model(
                module, tuple(source.input_shape or ()), granularity="name",
                backend="Vivado", default_precision=precision,
                default_reuse_factor=options.default_reuse_factor,
                channels_last_conversion="internal",
            )
            set_reuse_factors(config, options, where)
            layer = config.setdefault("LayerName", {}).setdefault(input_name, {})
            layer.setdefault("Precision", {})["result"] = options.input_precision or precision
            type_softmax_inputs(config)
            return hls4ml.converters.convert_from_pytorch_model(
                module, output_dir=str(output_dir), project_name="kiln_model",
                backend="Vivado", io_type=options.io_type, hls_config=config,
                part=options.part, clock_period=options.clock_period,
            )
    except KilnError:
        raise
    except Exception as exc:
        raise UnsupportedLayerError(
            f"hls4ml could not convert {where}: {type(exc).__name__}: {exc}. Supported "
            f"layers: {', '.join(SUPPORTED_TORCH_LAYERS)}."
        ) from exc


def convert_torch(source: TorchSource, output_dir: Path, options: BuildOptions) -> Any:
    """Convert to an hls4ml ModelGraph (Vivado backend, project ``kiln_model``) in
    ``output_dir``; lower it with :func:`kiln.frontend.lower`.

    Brevitas / QONNX: every quantizer must have one power-of-two scale and zero point 0 (else
    PrecisionError naming the layer and the quantizer to use); ``precision`` types only float
    weights and biases, and is required when there are any. Plain torch / ONNX / TorchScript:
    ``precision`` is required and types every tensor. ``input_precision`` overrides the input
    type (default: the input quantizer's type, else ``precision``, else fixed<16,6>).
    """
    check_source(source, options.io_type)
    if source.kind == "torch":
        return _convert_pytorch(source, output_dir, options)
    return convert_onnx(prepare_torch(source), output_dir, options, source.where)


def save_torch_source(source: TorchSource, path: Path) -> Path:
    """Write the source as cleaned (Q)ONNX (``model/source.onnx``): the reference that
    :func:`run_onnx` executes without the model's Python code."""
    prepared = prepare_torch(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    prepared.model.save(str(path))
    return path


def torch_reference_is_bit_exact(source: TorchSource, options: BuildOptions) -> bool:
    """Whether the framework model defines every type, so kiln can demand equality with it:
    Brevitas/QONNX with a quantized input, every weight and bias quantized, and no float-only
    activation (softmax, sigmoid, tanh)."""
    if options.input_precision or source.kind not in ("brevitas", "qonnx"):
        return False
    prepared = prepare_torch(source)
    return (prepared.quantized and prepared.input_type is not None
            and not prepared.float_params and not prepared.float_activations)
