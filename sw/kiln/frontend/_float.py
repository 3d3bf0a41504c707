"""Types for the float parts of a model: what makes a float model useful hardware.

hls4ml's converters with ``granularity="name"`` leave every layer result ``auto``: a Dense
result becomes its exact accumulator type (``fixed<37,17>`` for a 16-input layer at
``fixed<16,6>``), and a softmax reading such a wide type addresses its 1024-entry exp table
by the top bits, so every logit gap below 128 maps to entry 0 and every class gets the same
output. kiln types the float parts instead:

- ``precision=P`` given: every weight, bias and layer result is ``P`` (what the option
  promises); accumulators stay exact (hls4ml's ``auto``, derived from the operand types) so
  only the cast to ``P`` rounds. A ``P`` that names no overflow mode saturates layer results
  (``SAT``): a float model's activations that outgrow ``P`` then clip instead of wrapping.
- no precision (Keras float models): every tensor gets a 16-bit type fitted to the values it
  takes when the float model runs on inputs drawn uniformly over the input type's whole
  range (the inputs ``kiln verify`` draws), as :func:`kiln.frontend.infer_fixed_point` does
  from calibration data for PyTorch models.
- every softmax's normalized input ``x_max - x`` is typed :data:`SOFTMAX_NORM_TYPE`
  (``ufixed<10,3,TRN,SAT>``): its 1024-entry exp table then covers gaps 0 to 8 in steps of
  1/128, exactly one entry per code, and larger gaps saturate (``exp(-8)`` is below the exp
  table's LSB). hls4ml's own default ``ufixed<W-1,I-1>`` of the input type wraps at
  ``2**(I-1)`` and, for a wide input, addresses the table too coarsely.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.ir import FixedType

log = logging.getLogger(__name__)

#: Type of a softmax's ``x_max - x``: 10 bits address the 1024-entry exp table one to one.
SOFTMAX_NORM_TYPE = FixedType(10, 3, signed=False, rounding="TRN", overflow="SAT")
#: Width of every type kiln infers for a float model (hls4ml's default width).
INFERRED_WIDTH = 16
#: Inputs drawn over the input type's range to size a float Keras model's types.
CALIBRATION_SAMPLES = 4096


def result_precision(precision: str) -> str:
    """The type of layer results for ``precision=``: as given, but saturating when the text
    names no overflow mode (a float model's activations then clip instead of wrapping)."""
    t = FixedType.parse(precision)
    named = precision.replace(" ", "").count(",") >= 3  # W, I, rounding, overflow
    return precision if named else str(t.with_modes(t.rounding, "SAT"))


def is_softmax_entry(entry: dict[str, Any]) -> bool:
    """Whether an hls4ml layer configuration is a softmax's (it has an exp table type)."""
    precision = entry.get("Precision")
    return isinstance(precision, dict) and "exp_table" in precision


def type_softmax_inputs(config: dict[str, Any]) -> None:
    """Give every stable softmax of an hls4ml configuration :data:`SOFTMAX_NORM_TYPE`."""
    for name, entry in config.get("LayerName", {}).items():
        if is_softmax_entry(entry) and str(entry.get("Implementation", "stable")) == "stable":
            entry["inp_norm_t"] = str(SOFTMAX_NORM_TYPE)
            log.debug("%s: softmax input gap x_max - x typed %s", name, SOFTMAX_NORM_TYPE)


def type_with_precision(config: dict[str, Any], precision: str) -> None:
    """``precision=`` for a float model: every ``auto`` weight and bias becomes
    ``precision``, every ``auto`` result :func:`result_precision`; accumulators stay exact."""
    results = result_precision(precision)
    for entry in config.get("LayerName", {}).values():
        types = entry.get("Precision")
        if not isinstance(types, dict):
            continue
        for key in ("weight", "bias"):
            if types.get(key) == "auto":
                types[key] = precision
        if types.get("result") == "auto":
            types["result"] = results
    type_softmax_inputs(config)


def fitted_type(values: NDArray[Any], width: int = INFERRED_WIDTH,
                signed: bool | None = None) -> FixedType:
    """The ``width``-bit type whose range just holds ``values`` (unsigned when ``signed`` is
    None and none is negative), rounding to nearest and saturating."""
    biggest = float(np.abs(values).max(initial=0.0))
    top = math.floor(math.log2(biggest)) + 1 if biggest > 0 else 0  # 2**top > biggest
    signed = bool(np.any(values < 0)) if signed is None else signed
    return FixedType(width, top + int(signed), signed, "RND_CONV", "SAT")


def uniform_inputs(t: FixedType, shape: tuple[int, ...], n: int = CALIBRATION_SAMPLES,
                   seed: int = 0) -> NDArray[Any]:
    """``n`` inputs of ``shape`` drawn uniformly over every code of ``t``."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(t.min_code, t.max_code + 1, size=(n, *shape))
    values: NDArray[Any] = (codes * t.lsb).astype(np.float32)
    return values


def _keras_values(model: Any, x: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """Every hls4ml layer's result on ``x``, by hls4ml's layer names: a Keras layer with an
    activation gives its pre-activation value under its own name and the activated value
    under ``<name>_<activation>``."""
    from tensorflow import keras

    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    probe = keras.Model(model.inputs, [la.input for la in layers] + [la.output for la in layers])
    seen = probe.predict(x, verbose=0, batch_size=1024)
    inputs, outputs = seen[:len(layers)], seen[len(layers):]
    values: dict[str, NDArray[Any]] = {}
    for layer, inp, out in zip(layers, inputs, outputs, strict=True):
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if type(layer).__name__ in ("Activation", "ReLU", "Softmax") or activation == "linear":
            values[layer.name] = values[f"{layer.name}_linear"] = np.asarray(out)
            continue
        config = layer.get_config()
        config["activation"] = "linear"
        linear = type(layer).from_config(config)
        linear.build(inp.shape)
        linear.set_weights(layer.get_weights())
        values[layer.name] = np.asarray(linear(inp))
        values[f"{layer.name}_{activation}"] = np.asarray(out)
    return values


def _parameters(layer: Any) -> dict[str, NDArray[Any]]:
    """A Keras layer's parameters by hls4ml's precision names: ``weight`` and ``bias``, or a
    BatchNormalization's ``scale`` and ``bias`` as hls4ml computes them."""
    params = layer.get_weights()
    if type(layer).__name__ == "BatchNormalization":
        config = layer.get_config()
        gamma = params.pop(0) if config.get("scale", True) else 1.0
        beta = params.pop(0) if config.get("center", True) else 0.0
        mean, variance = params
        scale = gamma / np.sqrt(variance + config["epsilon"])
        return {"scale": np.asarray(scale), "bias": np.asarray(beta - mean * scale)}
    return dict(zip(("weight", "bias"), params, strict=False))


def infer_keras_types(model: Any, config: dict[str, Any], input_type: FixedType) -> None:
    """Type every ``auto`` weight, bias and result of a float Keras model's hls4ml
    configuration from its values (see the module docstring); accumulators stay exact."""
    x = uniform_inputs(input_type, tuple(int(d) for d in model.input_shape[1:]))
    values = _keras_values(model, x)
    parameters = {la.name: _parameters(la) for la in model.layers}
    for name, entry in config.get("LayerName", {}).items():
        types = entry.get("Precision")
        if not isinstance(types, dict):
            continue
        for key, value in parameters.get(name, {}).items():
            if types.get(key) == "auto":
                types[key] = str(fitted_type(value, signed=True))
        if types.get("result") == "auto" and name in values:
            types["result"] = str(fitted_type(values[name]))
            log.info("%s: result typed %s (largest magnitude %.4g over %d inputs drawn over %s)",
                     name, types["result"], float(np.abs(values[name]).max(initial=0.0)),
                     len(x), input_type)
    type_softmax_inputs(config)
