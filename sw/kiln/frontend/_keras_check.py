"""The one check before a Keras model is converted: every layer kiln cannot build, each with
the one change that makes it build, raised together as one :class:`UnsupportedLayerError`."""

from __future__ import annotations

from typing import Any

from kiln.errors import UnsupportedLayerError
from kiln.frontend._keras_rewrite import (
    KERNEL_LAYERS,
    SIGN_FIXES,
    SIGN_QUANTIZERS,
    is_po2_kernel,
    quantizer_name,
    sign_problems,
)

# Keras layer classes kiln builds (io_parallel spine). Everything else is refused up front.
SUPPORTED_KERAS_LAYERS = (
    "InputLayer", "Dense", "QDense", "Activation", "QActivation", "ReLU", "Softmax",
    "BatchNormalization", "QBatchNormalization", "Dropout", "Flatten", "LeakyReLU", "PReLU",
    "ELU", "ThresholdedReLU",
)
# Convolution and pooling layers kiln builds in both io types (no dilation).
STREAM_KERAS_LAYERS = (
    "Conv1D", "Conv2D", "QConv1D", "QConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    "QDepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "QSeparableConv1D",
    "QSeparableConv2D", "QConv2DBatchnorm", "MaxPooling1D", "MaxPooling2D", "Reshape",
    "ZeroPadding1D", "ZeroPadding2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
)
# The one change that makes a layer kiln does not build into one it does.
_LAYER_FIXES = {
    "QDenseBatchnorm": "train a QDense followed by a BatchNormalization instead",
    "QDepthwiseConv2DBatchnorm": "train a QDepthwiseConv2D followed by a BatchNormalization",
    "Add": "kiln builds single-path models: remove the skip connection",
    "Concatenate": "kiln builds single-path models: remove the branch and concatenation",
    "Multiply": "kiln builds single-path models: remove the element-wise product",
    "Subtract": "kiln builds single-path models: remove the element-wise difference",
    "Lambda": "replace the Lambda with built-in Keras layers",
    "UpSampling1D": "remove the upsampling (not built by kiln)",
    "UpSampling2D": "remove the upsampling (not built by kiln)",
    "Permute": "remove the Permute; feed the data in the order the next layer needs",
    "Embedding": "feed one-hot or dense features to a Dense layer instead",
    "LSTM": "recurrent layers are not built by kiln; use Dense or Conv1D layers",
    "GRU": "recurrent layers are not built by kiln; use Dense or Conv1D layers",
    "SimpleRNN": "recurrent layers are not built by kiln; use Dense or Conv1D layers",
    "QLSTM": "recurrent layers are not built by kiln; use QDense or QConv1D layers",
    "QGRU": "recurrent layers are not built by kiln; use QDense or QConv1D layers",
    "QSimpleRNN": "recurrent layers are not built by kiln; use QDense or QConv1D layers",
}
# QActivation quantizers kiln builds, and the fix for those it does not.
_QUANTIZER_FIXES = {
    "quantized_po2": "use quantized_bits(bits, integer) (power-of-two exponent codes are not "
                     "fixed point)",
    "quantized_relu_po2": "use quantized_relu(bits, integer) (power-of-two exponent codes are "
                          "not fixed point)",
}


def _window_problems(layer: Any) -> list[str]:
    """Convolution settings kiln's RTL does not build, each with its fix."""
    config = layer.get_config()
    problems = []
    if any(int(d) != 1 for d in config.get("dilation_rate", (1,))):
        problems.append(f"dilation_rate={config['dilation_rate']} (use 1)")
    if int(config.get("groups", 1)) != 1:
        problems.append(f"groups={config['groups']} (only depthwise grouping is built: use "
                        "DepthwiseConv followed by a 1x1 Conv)")
    if int(config.get("depth_multiplier", 1)) != 1:
        problems.append(f"depth_multiplier={config['depth_multiplier']} (use 1)")
    padding = config.get("padding", "valid")
    if padding not in ("valid", "same"):
        problems.append(f"padding={padding!r} (use 'valid' or 'same')")
    return problems


def _empty_problem(layer: Any) -> str | None:
    """A layer with no outputs (units=0, filters=0): nothing to build, nothing downstream."""
    config = layer.get_config()
    for key in ("units", "filters"):
        if key in config and int(config[key]) < 1:
            return (f"{key}={config[key]}: the layer has no outputs. Fix: give {key} a positive "
                    f"number (e.g. {key}=10)")
    return None


def _quantizer_problem(layer: Any) -> str | None:
    """A QActivation quantizer (or a kernel/bias quantizer's alpha) kiln does not build."""
    for attr in ("quantizer", "kernel_quantizer_internal", "bias_quantizer_internal",
                 "activation"):  # QDense(activation='binary') holds a quantizer there
        quantizer = getattr(layer, attr, None)
        if quantizer is None:
            continue
        name = quantizer_name(quantizer)  # QActivation('binary_tanh') holds a function
        if name in SIGN_QUANTIZERS or name in SIGN_FIXES:
            continue  # kiln.frontend._keras_rewrite checks and builds them
        if (attr == "kernel_quantizer_internal" and is_po2_kernel(quantizer)
                and type(layer).__name__ in KERNEL_LAYERS):
            continue  # kiln.frontend._keras_rewrite gives it its exact values
        alpha = getattr(quantizer, "alpha", None)
        if isinstance(alpha, str):
            return (f"{quantizer} has alpha={alpha!r}, a scale per channel that no single "
                    "fixed-point type holds. Fix: use alpha=1 and retrain")
        if name in _QUANTIZER_FIXES:
            return f"{quantizer}. Fix: {_QUANTIZER_FIXES[name]}"
        if name == "quantized_sigmoid" and quantizer.symmetric:
            return (f"{quantizer} has symmetric=True (its lowest value is one LSB, which "
                    "hls4ml's type does not keep). Fix: use symmetric=False")
        if name in ("quantized_sigmoid", "quantized_tanh") and quantizer.use_stochastic_rounding:
            return (f"{quantizer} rounds stochastically, which no hardware reproduces. Fix: "
                    "use_stochastic_rounding=False")
    return None


def _untyped_activation(model: Any, index: int, layer: Any) -> str | None:
    """A float sigmoid/tanh inside a model whose input is quantized (hls4ml's bit-exact
    inference then types it with 128 bits) that no QActivation types right after."""
    activation = str(layer.get_config().get("activation", "")).lower()
    if type(layer).__name__ != "Activation" or activation not in ("sigmoid", "tanh"):
        return None
    following = model.layers[index + 1] if index + 1 < len(model.layers) else None
    if following is not None and type(following).__name__ == "QActivation":
        return None
    return (f"float {activation} in a model with a quantized input has no type of its own "
            f"(hls4ml gives it 128 bits). Fix: replace it with QActivation(quantized_"
            f"{activation}(8, use_real_{activation}=True)), or put QActivation(quantized_bits"
            "(8, 0)) right after it")


def _rectifier_problem(layer: Any) -> str | None:
    """A Keras rectifier setting hls4ml's converter refuses (with a bare Exception)."""
    config = layer.get_config()
    if type(layer).__name__ == "PReLU" and config.get("shared_axes") is not None:
        return (f"shared_axes={list(config['shared_axes'])} (hls4ml converts a PReLU with one "
                "slope per element only). Fix: shared_axes=None")
    if type(layer).__name__ == "ReLU" and (float(config.get("negative_slope") or 0)
                                           or float(config.get("threshold") or 0)
                                           or config.get("max_value") is not None):
        return ("ReLU with negative_slope, threshold or max_value is not converted as such by "
                "hls4ml. Fix: use LeakyReLU(negative_slope) or ThresholdedReLU(theta) "
                "instead, and no max_value")
    return None


def layer_problems(model: Any, io_type: str = "io_parallel",
                   quantized_input: bool = False) -> list[str]:
    """Every layer of a Keras ``model`` kiln cannot build with ``io_type``, one line each:
    the layer, its type, what is wrong and the one change that makes it build.
    ``quantized_input``: hls4ml's bit-exact inference will run (a QKeras model whose input
    has a quantizer)."""
    supported = SUPPORTED_KERAS_LAYERS + STREAM_KERAS_LAYERS
    problems = []
    for index, layer in enumerate(model.layers):
        cls = type(layer).__name__
        at = f"layer {layer.name!r} ({cls})"
        if cls not in supported:
            fix = _LAYER_FIXES.get(cls, "replace it with one of the layers kiln builds (below)")
            problems.append(f"{at}: not built by kiln. Fix: {fix}")
        elif (empty := _empty_problem(layer)) is not None:
            problems.append(f"{at}: {empty}")
        elif cls in STREAM_KERAS_LAYERS and (window := _window_problems(layer)):
            problems.append(f"{at}: {'; '.join(window)} is not supported by kiln's RTL")
        elif (rectifier := _rectifier_problem(layer)) is not None:
            problems.append(f"{at}: {rectifier}")
        elif (quantizer := _quantizer_problem(layer)) is not None:
            problems.append(f"{at}: {quantizer}")
        elif quantized_input and (untyped := _untyped_activation(model, index, layer)):
            problems.append(f"{at}: {untyped}")
    return problems + sign_problems(model)


def check_layers(model: Any, io_type: str = "io_parallel", quantized_input: bool = False
                 ) -> None:
    """Refuse a model with any layer kiln cannot build, listing every such layer at once,
    each with the one change that makes it build (see :func:`layer_problems`).

    Raises:
        UnsupportedLayerError: one or more layers kiln cannot build.
    """
    problems = layer_problems(model, io_type, quantized_input)
    if not problems:
        return
    raise UnsupportedLayerError(
        f"Model {model.name!r}: {len(problems)} layer(s) kiln cannot build with {io_type}:\n"
        + "\n".join(f"  - {p}" for p in problems)
        + f"\nkiln builds {', '.join(SUPPORTED_KERAS_LAYERS + STREAM_KERAS_LAYERS)}."
    )
