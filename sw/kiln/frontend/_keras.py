"""Load QKeras/Keras models and convert them to an hls4ml ModelGraph with bit-exact types."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kiln.errors import KilnError, ModelLoadError, PrecisionError, UnsupportedLayerError
from kiln.frontend._base import InputLayout, Reference, set_reuse_factors
from kiln.ir import FixedType

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

log = logging.getLogger(__name__)

# Keras layer classes kiln builds (io_parallel spine). Everything else is refused up front.
SUPPORTED_KERAS_LAYERS = (
    "InputLayer", "Dense", "QDense", "Activation", "QActivation", "ReLU", "Softmax",
    "BatchNormalization", "Dropout", "Flatten",
)
# Convolution and pooling layers kiln builds in io_stream form ('valid' padding, no dilation).
STREAM_KERAS_LAYERS = (
    "Conv1D", "Conv2D", "QConv1D", "QConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    "QDepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "QSeparableConv1D",
    "QSeparableConv2D", "MaxPooling1D", "MaxPooling2D", "Reshape", "ZeroPadding1D",
    "ZeroPadding2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
)
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


def _check_window_settings(layer: Any) -> None:
    """Refuse convolution settings kiln's stream RTL does not build, naming the setting."""
    config = layer.get_config()
    refusals = []
    if any(int(d) != 1 for d in config.get("dilation_rate", (1,))):
        refusals.append(f"dilation_rate={config['dilation_rate']} (use 1)")
    if int(config.get("groups", 1)) != 1:
        refusals.append(f"groups={config['groups']} (only depthwise grouping is built)")
    if int(config.get("depth_multiplier", 1)) != 1:
        refusals.append(f"depth_multiplier={config['depth_multiplier']} (use 1)")
    padding = config.get("padding", "valid")
    if padding not in ("valid", "same"):
        refusals.append(f"padding={padding!r} (use 'valid' or 'same')")
    if refusals:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({type(layer).__name__}): {'; '.join(refusals)} is not "
            "supported by kiln's stream RTL."
        )


def check_layers(model: Any, io_type: str = "io_parallel") -> None:
    """Refuse layers kiln cannot build, naming each with its type and the supported list."""
    supported: tuple[str, ...] = SUPPORTED_KERAS_LAYERS
    if io_type == "io_stream":
        supported = SUPPORTED_KERAS_LAYERS + STREAM_KERAS_LAYERS
    for layer in model.layers:
        cls = type(layer).__name__
        if cls not in supported:
            hint = (" Convolution and pooling layers need io_type='io_stream'."
                    if cls in STREAM_KERAS_LAYERS else "")
            raise UnsupportedLayerError(
                f"Layer {layer.name!r} of type {cls} is not supported by kiln's RTL with "
                f"{io_type} yet. Supported: {', '.join(supported)}.{hint}"
            )
        if cls in STREAM_KERAS_LAYERS:
            _check_window_settings(layer)


def is_quantized(model: Any) -> bool:
    return any(type(layer).__name__.startswith("Q") for layer in model.layers)


def _input_is_quantized(model: Any) -> bool:
    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    return bool(layers) and type(layers[0]).__name__ == "QActivation"


def reference_is_bit_exact(model: Any, options: BuildOptions) -> bool:
    """Whether the framework model defines every type, so kiln can demand equality with it:
    quantized, with a quantized input, and no float-only activation (softmax, sigmoid, tanh)."""
    if options.input_precision or not is_quantized(model) or not _input_is_quantized(model):
        return False
    for layer in model.layers:
        activation = str(layer.get_config().get("activation", "")).lower()
        if type(layer).__name__ in ("Activation", "Softmax") and activation != "linear":
            return False
        if type(layer).__name__ == "Dense" and activation not in ("", "linear"):
            return False
    return True


def _type_unsigned_quantizers(model: Any, config: dict[str, Any]) -> None:
    """Give each ``quantized_bits(keep_negative=False)`` activation its exact type.

    hls4ml 1.3 types every quantized_bits as signed ``fixed<bits, integer+1>``, ignoring
    keep_negative: for an unsigned quantizer that drops one fractional bit and lets negative
    values through where QKeras clips them to 0, so HLS and RTL would differ from QKeras.
    QKeras's own grid is ``ufixed<bits, integer>`` (rounding and saturation as hls4ml chose).
    """
    for layer in model.layers:
        quantizer = getattr(layer, "quantizer", None)  # QActivation's quantizer object
        if (quantizer is None or type(quantizer).__name__ != "quantized_bits"
                or quantizer.keep_negative):
            continue
        precision = config["LayerName"].get(layer.name, {}).get("Precision", {})
        if not isinstance(precision, dict) or "result" not in precision:
            continue
        hls_type = FixedType.parse(precision["result"])
        exact = FixedType(int(quantizer.bits), int(quantizer.integer), False,
                          hls_type.rounding, hls_type.overflow)
        precision["result"] = str(exact)
        log.debug("%s: quantized_bits(keep_negative=False) typed %s, not %s", layer.name,
                  exact, hls_type)


def hls_config(model: Any, options: BuildOptions) -> tuple[dict[str, Any], bool]:
    """The hls4ml configuration and whether hls4ml's ``bit_exact`` inference applies."""
    import hls4ml

    precision, input_precision = options.precision, options.input_precision
    quantized = is_quantized(model)
    if not quantized and precision is None:
        raise PrecisionError(
            f"Model {model.name!r} has no quantized layers (a float model) and no precision "
            "was given. Train it with QKeras quantizers, or pass precision='fixed<16,6>' "
            "(kiln compile --precision) to choose a fixed-point type for every tensor."
        )
    default = precision or "fixed<16,6>"
    config = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend="Vivado", default_precision=default,
        default_reuse_factor=options.default_reuse_factor,
    )
    set_reuse_factors(config, options, f"Model {model.name!r}")
    _type_unsigned_quantizers(model, config)
    bit_exact = quantized and _input_is_quantized(model) and input_precision is None
    if not bit_exact:
        input_name = model.layers[0].name
        chosen = input_precision or precision or DEFAULT_INPUT_PRECISION
        config["LayerName"].setdefault(input_name, {}).setdefault("Precision", {})
        config["LayerName"][input_name]["Precision"]["result"] = chosen
        log.info("input %s has no quantizer: using input type %s", input_name, chosen)
    return config, bit_exact


def convert(model: Any, output_dir: Path, options: BuildOptions) -> Any:
    """Convert to an hls4ml ModelGraph (Vivado backend) written to ``output_dir``."""
    import hls4ml

    check_layers(model, options.io_type)
    config, bit_exact = hls_config(model, options)
    try:
        return hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(output_dir), project_name="kiln_model", backend="Vivado",
            io_type=options.io_type, hls_config=config, bit_exact=bit_exact, part=options.part,
            clock_period=options.clock_period,
        )
    except KilnError:
        raise
    except Exception as exc:
        raise KilnError(
            f"hls4ml could not convert model {model.name!r}: {type(exc).__name__}: {exc}"
        ) from exc
