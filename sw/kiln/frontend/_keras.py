"""Load QKeras/Keras models and convert them to an hls4ml ModelGraph with bit-exact types."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kiln.errors import KilnError, ModelLoadError, PrecisionError
from kiln.frontend._base import InputLayout, Reference, check_model_path, set_reuse_factors
from kiln.frontend._float import infer_keras_types, type_softmax_inputs, type_with_precision
from kiln.frontend._keras_check import check_layers
from kiln.frontend._keras_rewrite import (
    has_float_scale,
    is_sign_quantizer,
    rewrite_layers,
    set_sign_thresholds,
)
from kiln.ir import FixedType

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

log = logging.getLogger(__name__)

# Default for a model whose input carries no quantizer: hls4ml's default model precision.
DEFAULT_INPUT_PRECISION = "fixed<16,6>"


@dataclass(frozen=True)
class KerasSource:
    """A loaded Keras model and the hash of what it was loaded from (a :class:`Source`)."""

    FRAMEWORKS: ClassVar[tuple[str, ...]] = ("qkeras", "keras")
    SAVED_AS: ClassVar[str] = "source.h5"

    model: Any
    digest: str
    files: tuple[Path, ...]

    @property
    def framework(self) -> str:
        """``qkeras`` when any layer is a QKeras layer, else ``keras``."""
        return "qkeras" if is_quantized(self.model) else "keras"

    @property
    def input_layout(self) -> InputLayout:
        return "channels_last"

    @classmethod
    def load(cls, model: Any, options: BuildOptions,
             weights: str | os.PathLike[str] | None = None) -> KerasSource:
        """:func:`load_keras`, refusing an ``input_shape`` (a Keras model has its own)."""
        if options.input_shape is not None:
            raise KilnError("input_shape is for PyTorch/ONNX models; a Keras model carries "
                            "its own")
        return load_keras(model, weights)

    @classmethod
    def open(cls, model_dir: Path) -> KerasSource:
        return load_keras(model_dir / cls.SAVED_AS)

    def save(self, model_dir: Path) -> Path:
        path = model_dir / self.SAVED_AS
        self.model.save(path)
        return path

    def convert(self, output_dir: Path, options: BuildOptions) -> Any:
        return convert(self.model, output_dir, options)

    def reference_is_bit_exact(self, options: BuildOptions) -> bool:
        return reference_is_bit_exact(self.model, options)

    def reference(self) -> Reference:
        """Keras ``predict`` in batches of 1024."""
        model = self.model
        return lambda x: model.predict(x, verbose=0, batch_size=1024)


def _custom_objects() -> dict[str, Any]:
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_keras(model: Any, weights: str | os.PathLike[str] | None = None) -> KerasSource:
    """Accept a Keras model object, a full-model ``.h5``/``.keras`` file, or an architecture
    ``.json`` with its weights ``.h5`` (given, or ``<stem>_weights.h5`` beside it)."""
    if not isinstance(model, str | os.PathLike):
        if not hasattr(model, "layers") or not hasattr(model, "get_config"):
            raise ModelLoadError(
                f"kiln.compile got a {type(model).__name__}, not a Keras model or a model path"
            )
        import json

        text = json.dumps(model.get_config(), sort_keys=True, default=str).encode()
        digest = hashlib.sha256(text)
        for w in model.get_weights():
            digest.update(w.tobytes())
        return KerasSource(model, digest.hexdigest(), ())

    path = Path(model)
    check_model_path(path)
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist; give a .h5, .keras or .json path")
    from tensorflow import keras

    try:
        if path.suffix == ".json":
            weights_path = Path(weights) if weights else path.with_name(path.stem + "_weights.h5")
            if not weights_path.is_file():
                raise ModelLoadError(
                    f"Weights for {path.name} not found at {weights_path}; pass weights=PATH "
                    "(or --weights) or save them beside the json as <name>_weights.h5"
                )
            loaded = keras.models.model_from_json(path.read_text(),
                                                  custom_objects=_custom_objects())
            loaded.load_weights(weights_path)
            files = [path, weights_path]
        else:
            loaded = keras.models.load_model(path, custom_objects=_custom_objects(), compile=False)
            files = [path]
    except ModelLoadError:
        raise
    except Exception as exc:  # Keras raises many types for a corrupt file
        raise ModelLoadError(
            f"Cannot read Keras model {path}: {type(exc).__name__}: {exc}. Is the file complete "
            "and saved by Keras 2 / QKeras (model.save('x.h5') or to_json + save_weights)?"
        ) from exc
    return KerasSource(loaded, _hash_files(files), tuple(files))


def is_quantized(model: Any) -> bool:
    return any(type(layer).__name__.startswith("Q") for layer in model.layers)


def _input_is_quantized(model: Any) -> bool:
    """Whether the first layer is a QActivation(quantized_bits): hls4ml's bit_exact inference
    types the input from it. Only quantized_bits becomes hls4ml's FixedPointQuantizer, which
    that inference needs after the input; any other first quantizer (quantized_relu,
    quantized_sigmoid) is an activation there, and the input is typed as an unquantized one.
    A model of nothing but quantized_bits QActivations is typed that way too: hls4ml folds
    them all into the input and writes a C function whose input and output have one name."""
    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    return (bool(layers) and _is_bits_quantizer(layers[0])
            and not all(_is_bits_quantizer(la) for la in layers))


# Layers hls4ml's bit_exact inference cannot type (QConv2DBatchnorm: it raises in pad_arrs).
# A model with one is typed as one whose input has no quantizer, the input taking the type
# of its quantizer.
_NO_BIT_EXACT_INFERENCE = ("QConv2DBatchnorm",)


def _bit_exact_inference(model: Any, options: BuildOptions) -> bool:
    """Whether hls4ml's bit_exact type inference runs: a QKeras model whose input has a
    quantized_bits quantizer, no ``input_precision``, no layer it cannot type."""
    return (is_quantized(model) and _input_is_quantized(model)
            and options.input_precision is None
            and not any(type(la).__name__ in _NO_BIT_EXACT_INFERENCE for la in model.layers))


def _first_quantizer_type(model: Any) -> FixedType | None:
    """The exact type of the input quantizer, when the input has one."""
    if not _input_is_quantized(model):
        return None
    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    return qkeras_activation_type(layers[0].quantizer)


def _is_bits_quantizer(layer: Any) -> bool:
    return (type(layer).__name__ == "QActivation"
            and type(getattr(layer, "quantizer", None)).__name__ == "quantized_bits")


# QActivation quantizers whose hls4ml form equals QKeras code for code (and the hard
# quantized_sigmoid / quantized_tanh: a clip QKeras and hls4ml both compute exactly).
_EXACT_QUANTIZERS = ("quantized_bits", "quantized_relu")


def _inexact_layer(layer: Any) -> str | None:
    """Why ``layer`` keeps the hardware from equalling the framework model, or None."""
    cls = type(layer).__name__
    activation = str(layer.get_config().get("activation", "")).lower()
    if cls in ("Activation", "Softmax") and activation != "linear":
        return f"float activation {activation or 'softmax'} (a table in hardware)"
    if cls == "Dense" and activation not in ("", "linear"):
        return f"float activation {activation}"
    if cls in ("BatchNormalization", "QBatchNormalization"):
        return ("batch norm in floating point; kiln's scale and shift (or binary/ternary "
                "thresholds) are its values rounded to fixed point")
    for attr, weight in (("kernel_quantizer_internal", "kernel"),
                         ("bias_quantizer_internal", "bias")):
        if (cls.startswith("Q") and hasattr(layer, attr) and getattr(layer, attr) is None
                and getattr(layer, weight, None) is not None):
            return (f"{weight} without a quantizer: float values rounded to hls4ml's type in "
                    "hardware")
    kernel = getattr(layer, "kernel_quantizer_internal", None)
    if is_sign_quantizer(kernel) and has_float_scale(kernel):
        return f"kernel {kernel}: a scale per channel that is not a power of two"
    if cls == "QConv2DBatchnorm":
        return ("batch norm folded into the kernel in floating point (float32 in QKeras, "
                "float64 in hls4ml) before quantizing it: a weight can round differently")
    if cls in ("LeakyReLU", "PReLU", "ELU", "ThresholdedReLU"):
        return (f"float {cls}: hls4ml's fixed-point slope, threshold or table, not Keras's "
                "float32 arithmetic")
    if "AveragePooling" in cls:
        size = (layer.input_shape[1:-1] if cls.startswith("Global")
                else layer.get_config()["pool_size"])
        count = math.prod(int(v) for v in size)
        if count & (count - 1):
            return (f"an average over {count} values: a divide by {count} in hls4ml's fixed "
                    "point, in float32 in Keras")
    for q in (getattr(layer, "quantizer", None), getattr(layer, "activation", None)):
        if type(q).__name__ == "quantized_relu" and float(getattr(q, "negative_slope", 0) or 0):
            return (f"{q}: QKeras clips negative outputs at -negative_slope * 2^integer, "
                    "hls4ml's result type only at its own minimum")
    quantizer = getattr(layer, "quantizer", None)
    name = type(quantizer).__name__
    hard = name in ("quantized_sigmoid", "quantized_tanh") and not getattr(
        quantizer, f"use_real_{name.removeprefix('quantized_')}")
    if cls == "QActivation" and name not in _EXACT_QUANTIZERS and not hard \
            and not is_sign_quantizer(quantizer):  # a sign is an exact comparison
        return (f"{quantizer} is a table over hls4ml's fixed input range in hardware, not "
                "QKeras's function of the exact input")
    return None


def reference_is_bit_exact(model: Any, options: BuildOptions) -> bool:
    """Whether the framework model defines every type, so kiln can demand equality with it:
    quantized, with a quantized input, and no float-only activation (softmax, sigmoid, tanh,
    quantized_sigmoid / quantized_tanh with use_real_*: tables in hardware)."""
    if options.input_precision or not is_quantized(model) or not _input_is_quantized(model):
        return False
    for layer in model.layers:
        reason = _inexact_layer(layer)
        if reason is not None:
            log.info("reference is not bit-exact: layer %r: %s; compared in LSBs", layer.name,
                     reason)
            return False
    return True


def qkeras_activation_type(quantizer: Any) -> FixedType | None:
    """The type whose grid, rounding and saturation are exactly QKeras's ``quantizer`` (a
    ``quantized_bits`` or ``quantized_relu`` of an activation), or None for any other.

    QKeras rounds half to even (``tf.round``: ``RND_CONV``) and clips (``SAT``; ``SAT_SYM``
    for ``symmetric=True``). ``quantized_bits(b, i)`` keeps ``i`` integer bits and a sign:
    ``fixed<b, i+1>``; ``keep_negative=False`` drops the sign, ``ufixed<b, i>``;
    ``quantized_relu(b, i)`` is ``ufixed<b, i>``. hls4ml 1.3 mistypes three of these: it
    ignores keep_negative (signed, one fractional bit lost, negatives kept), types a
    quantizer without fractional bits as ``ap_int`` (truncating and wrapping), and ignores
    ``symmetric``.
    """
    name = type(quantizer).__name__
    alpha = getattr(quantizer, "alpha", None)
    if (name not in ("quantized_bits", "quantized_relu")
            or (alpha is not None and (isinstance(alpha, str) or float(alpha) != 1.0))
            or getattr(quantizer, "use_stochastic_rounding", False)):
        return None
    bits, integer = int(quantizer.bits), int(quantizer.integer)
    if name == "quantized_relu":
        if (float(quantizer.negative_slope) != 0.0 or quantizer.use_sigmoid
                or quantizer.relu_upper_bound is not None):
            return None
        return FixedType(bits, integer, False, "RND_CONV", "SAT")
    signed = bool(quantizer.keep_negative)
    if bits - signed < 1:  # one signed bit: QKeras's binary sign, not a fixed-point grid
        return None
    overflow = "SAT_SYM" if signed and quantizer.symmetric else "SAT"
    return FixedType(bits, integer + signed, signed, "RND_CONV", overflow)


def _unsigned(quantizer: Any) -> bool:
    """Whether ``quantizer`` is a QKeras ``quantized_bits(keep_negative=False)``."""
    return (quantizer is not None and type(quantizer).__name__ == "quantized_bits"
            and not quantizer.keep_negative)


def _type_activation_quantizers(model: Any, config: dict[str, Any], bit_exact: bool) -> None:
    """Give each QActivation(quantized_bits / quantized_relu) QKeras's exact type (see
    :func:`qkeras_activation_type`); refuse an unsigned kernel or bias quantizer that hls4ml
    would mistype.

    The type goes into the configuration, so it holds both where the activation stays a
    layer and where hls4ml merges it into the Dense or Conv before it (the Dense result is
    then cast with these modes: a negative sum clips to 0 instead of wrapping). Kernels and
    biases take their type from the quantizer itself, not the configuration; hls4ml's
    bit_exact inference types them right, and without it kiln refuses unsigned ones.

    Raises:
        PrecisionError: an unsigned kernel or bias quantizer in a model whose input has no
            quantizer (or with ``input_precision``).
    """
    for layer in model.layers:
        for attr in ("kernel_quantizer_internal", "bias_quantizer_internal"):
            quantizer: Any = getattr(layer, attr, None)
            if _unsigned(quantizer) and not bit_exact:
                raise PrecisionError(
                    f"Layer {layer.name!r} ({type(layer).__name__}): {attr.split('_')[0]} "
                    f"quantizer {quantizer} has keep_negative=False; without an input "
                    f"quantizer hls4ml types it signed fixed<{quantizer.bits},"
                    f"{int(quantizer.integer) + 1}> and loses a fractional bit. Quantize the "
                    "input with QActivation(quantized_bits(...)) as the first layer (and no "
                    "input_precision), or use keep_negative=True."
                )
        if type(layer).__name__ != "QActivation":
            continue
        exact = qkeras_activation_type(getattr(layer, "quantizer", None))
        precision: Any = config["LayerName"].get(layer.name, {}).get("Precision", {})
        if exact is None or not isinstance(precision, dict) or "result" not in precision:
            continue
        if precision["result"] != str(exact):
            log.debug("%s: %s typed %s, not %s", layer.name, layer.quantizer, exact,
                      precision["result"])
        precision["result"] = str(exact)


def _keep_linear_quantizers(model: Any, config: dict[str, Any]) -> None:
    """Keep every ``QActivation(quantized_bits(...))`` when hls4ml's bit_exact inference is
    off (an input without a quantizer).

    hls4ml's ``merge_linear_activation`` pass removes a linear activation whose parent result
    is ``auto`` and moves only a QONNX quantizer's type onto the parent; a QKeras quantizer
    is dropped, so the Dense result stays its wide accumulator type. Typing the parent's
    result with the quantizer's type makes hls4ml cast there instead: QKeras's semantics.
    """
    layers = config["LayerName"]
    names = list(layers)
    for layer in model.layers:
        quantizer = getattr(layer, "quantizer", None)
        if (type(layer).__name__ != "QActivation" or quantizer is None
                or type(quantizer).__name__ != "quantized_bits"):
            continue
        position = names.index(layer.name) if layer.name in names else 0
        parents = [names[position - 1]] if position > 0 else []
        if parents and parents[0].endswith("_linear"):  # a layer's own linear activation
            parents.append(parents[0].removesuffix("_linear"))
        result = layers[layer.name].get("Precision", {}).get("result", "auto")
        for parent in parents:
            types = layers.get(parent, {}).get("Precision")
            if isinstance(types, dict) and types.get("result") == "auto" and result != "auto":
                types["result"] = result
                log.debug("%s: %s keeps %s", parent, layer.name, result)


def hls_config(model: Any, options: BuildOptions) -> tuple[dict[str, Any], bool]:
    """The hls4ml configuration and whether hls4ml's ``bit_exact`` inference applies.

    Without it (an input without a quantizer) every QActivation(quantized_bits) is kept, a
    float model's tensors are typed by :mod:`kiln.frontend._float` (``precision`` for every
    weight, bias and result, or, with no precision, types fitted to the values over the input
    range) and every softmax's table input is typed so its table is addressed sensibly.
    """
    import hls4ml

    precision, input_precision = options.precision, options.input_precision
    quantized = is_quantized(model)
    try:
        config = hls4ml.utils.config_from_keras_model(
            model, granularity="name", backend="Vivado",
            default_precision=precision or DEFAULT_INPUT_PRECISION,
            default_reuse_factor=options.default_reuse_factor,
        )
    except Exception as exc:
        raise hls4ml_error(model, exc, "read the model's configuration") from exc
    set_reuse_factors(config, options, f"Model {model.name!r}")
    bit_exact = _bit_exact_inference(model, options)
    _type_activation_quantizers(model, config, bit_exact)
    if not bit_exact:
        input_name = model.layers[0].name
        chosen = input_precision or precision or DEFAULT_INPUT_PRECISION
        first = _first_quantizer_type(model)
        if input_precision is None and first is not None:
            chosen = str(first)  # the input quantizer's own type, inference or not
        config["LayerName"].setdefault(input_name, {}).setdefault("Precision", {})
        config["LayerName"][input_name]["Precision"]["result"] = chosen
        log.info("input %s has no quantizer: using input type %s", input_name, chosen)
        _keep_linear_quantizers(model, config)
        if quantized:
            type_softmax_inputs(config)
        elif precision is not None:
            type_with_precision(config, precision)
        else:
            log.warning("Model %r is a float model and no precision was given: typing each "
                        "tensor from its values over the input type %s (precision= sets one "
                        "type for all)", model.name, chosen)
            infer_keras_types(model, config, FixedType.parse(chosen))
    return config, bit_exact


def hls4ml_error(model: Any, exc: Exception, doing: str) -> KilnError:
    """A KilnError for an exception hls4ml raised while it ``doing``, naming the model's
    layer the message mentions (hls4ml's own messages often do not)."""
    text = f"{type(exc).__name__}: {exc}"
    names = [la.name for la in model.layers if la.name in text]
    at = f" at layer {max(names, key=len)!r}" if names else ""
    return KilnError(
        f"hls4ml could not {doing} of model {model.name!r}{at}: {text}. Check the layer with "
        "kiln.frontend.check_layers(model, io_type) and report the model if it passes."
    )


def convert(model: Any, output_dir: Path, options: BuildOptions) -> Any:
    """Convert to an hls4ml ModelGraph (Vivado backend) written to ``output_dir``."""
    import hls4ml

    check_layers(model, options.io_type, _bit_exact_inference(model, options))
    model, signs = rewrite_layers(model)
    config, bit_exact = hls_config(model, options)
    try:
        model_graph = hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(output_dir), project_name="kiln_model", backend="Vivado",
            io_type=options.io_type, hls_config=config, bit_exact=bit_exact, part=options.part,
            clock_period=options.clock_period,
        )
    except KilnError:
        raise
    except Exception as exc:
        raise hls4ml_error(model, exc, "convert the layers") from exc
    set_sign_thresholds(model_graph, signs)
    return model_graph
