"""QKeras power-of-two kernels, binary/ternary quantizers and QBatchNormalization, rewritten
into layers hls4ml builds exactly.

A QBatchNormalization is, in inference, the batch norm of its quantized parameters; hls4ml
ignores the power-of-two quantizers QKeras gives them by default, so kiln hands it a Keras
BatchNormalization of the quantized values (:func:`batchnorm_params`).

A kernel ``quantized_bits(alpha='auto_po2')`` is a power of two per output channel times a
code, a ``quantized_po2`` kernel a signed power of two: every value is a fixed-point
number, but hls4ml factorizes the first's scale out into a layer of its own whose C
simulation does not build, and types the second with exponent codes. kiln gives the kernel
its exact values under one ``quantized_bits`` wide enough to hold them all
(:func:`exact_kernel_quantizer`); so does a binary/ternary kernel with a power-of-two
``alpha`` that no sign activation follows.

hls4ml 1.3 builds binary and ternary quantizers in ways that differ from QKeras: binary
activations as XNOR codes (0 for -1) that nothing downstream decodes, ``binary()`` and
``binary_tanh`` with one comparison although QKeras sends 0 to +1 in one and to -1 in the
other, a ternary threshold of 0.5 whatever the quantizer says, thresholds that assume a
positive batch-norm scale, and bias types such as ``ufixed<2,32>`` under its bit-exact
inference. So kiln rewrites the model before hls4ml sees it:

- a binary/ternary kernel becomes its codes (-1, 0, +1) under ``quantized_bits(2, 1)``,
  which holds them exactly; a per-channel ``alpha`` scale and the bias move into the
  thresholds of the activation after it;
- a binary/ternary activation, with the affine map between the last sum and it (that scale,
  the bias, a BatchNormalization), becomes an identity BatchNormalization and a
  ``QActivation('ternary')``, which hls4ml merges into one BatchNormalizationQuantizedTanh
  (``x > hi ? 1 : x <= lo ? -1 : 0``); :func:`set_sign_thresholds` then writes the
  thresholds QKeras's comparisons give on the exact sum's grid. A channel whose map
  decreases has its kernel column negated so both comparisons keep their direction.

QKeras's rules (``qkeras/quantizers.py``): ``binary()`` is +1 where its input is >= 0,
``binary_tanh`` +1 where it is > 0, ``ternary(threshold=t)`` +1 where it is >= t and -1
where it is <= -t (t = 0.33 when None, compared in float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import PrecisionError

Floats = NDArray[np.float64]

# Quantizers (classes, and the function QActivation('binary_tanh') takes) this module builds.
SIGN_QUANTIZERS = ("binary", "binary_tanh", "ternary")
# Binary/ternary quantizers it does not, each with the change that makes the model build.
SIGN_FIXES = {
    "stochastic_binary": "use binary() (stochastic rounding is for training only)",
    "stochastic_ternary": "use ternary() (stochastic rounding is for training only)",
    "bernoulli": "use binary() (a random draw is for training only)",
}
# Layers whose binary/ternary or power-of-two kernel kiln rewrites (output channels last).
KERNEL_LAYERS = ("QDense", "QConv1D", "QConv2D")
# Batch norms kiln folds into a sign activation after them (or builds as a scale and shift).
BATCHNORM_LAYERS = ("BatchNormalization", "QBatchNormalization")
_LINEAR_QUANTIZER = "quantized_bits(2, 1, alpha=1)"  # holds -1, 0 and +1 exactly


def quantizer_name(quantizer: Any) -> str:
    """The QKeras name of a quantizer object or function (``binary_tanh``)."""
    name = type(quantizer).__name__
    return str(getattr(quantizer, "__name__", name)) if name == "function" else name


def has_float_scale(quantizer: Any) -> bool:
    """Whether a quantizer's ``alpha`` scales by something other than a power of two
    (``"auto"``, or a number like 0.3): no fixed-point value holds it exactly."""
    alpha = getattr(quantizer, "alpha", None)
    return alpha == "auto" or (alpha is not None and not isinstance(alpha, str)
                               and not math.log2(float(alpha)).is_integer())


def is_sign_quantizer(quantizer: Any) -> bool:
    return quantizer is not None and quantizer_name(quantizer) in SIGN_QUANTIZERS


@dataclass(frozen=True)
class Affine:
    """``y = scale * z + shift`` per channel (float64), from the last sum ``z`` to a sign
    activation's input."""

    scale: Floats
    shift: Floats

    def then_batchnorm(self, layer: Any) -> Affine:
        """This map followed by a (Q)BatchNormalization in inference."""
        gamma, beta, mean, variance = batchnorm_params(layer)
        factor = gamma / np.sqrt(variance + float(layer.get_config()["epsilon"]))
        return Affine(self.scale * factor, (self.shift - mean) * factor + beta)


def batchnorm_params(layer: Any) -> tuple[Floats, Floats, Floats, Floats]:
    """``(gamma, beta, mean, variance)`` a Keras BatchNormalization or a QKeras
    QBatchNormalization uses in inference (QKeras quantizes each by its quantizer first;
    gamma 1 and beta 0 where the layer has none)."""
    weights = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
    values = []
    for name, default in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0),
                          ("moving_variance", 1.0)):
        if name not in weights:
            values.append(np.full(len(weights["moving_mean"].numpy()), default))
            continue
        quantizer = getattr(layer, f"{name.removeprefix('moving_')}_quantizer_internal", None)
        value = weights[name] if quantizer is None else quantizer(weights[name])
        values.append(np.asarray(value.numpy(), np.float64))
    return values[0], values[1], values[2], values[3]


@dataclass(frozen=True)
class SignThresholds:
    """Where a rewritten sign activation switches, in real values of the sum before it:
    +1 where ``z >= up`` (``z > up`` when not ``up_inclusive``), -1 where ``z <= down``
    (``z < down``); per channel. A binary activation has ``down == up`` with the other
    inclusiveness: it is never 0."""

    layer: str
    up: Floats
    up_inclusive: bool
    down: Floats
    down_inclusive: bool


def _activation_rule(quantizer: Any) -> tuple[float, bool, bool]:
    """``(t, inclusive, binary)``: QKeras's activation is +1 where its input is >= t (> t
    when not inclusive) and, ternary, -1 where it is <= -t."""
    name = quantizer_name(quantizer)
    if name == "binary":
        return 0.0, True, True
    if name == "binary_tanh":
        return 0.0, False, True
    threshold = quantizer.threshold if quantizer.threshold is not None else 0.33
    return float(np.float32(threshold)), True, False


def thresholds_for(layer: str, quantizer: Any, affine: Affine) -> SignThresholds:
    """The thresholds on ``z`` of ``quantizer`` applied to ``affine(z)``, a map that
    increases in every channel (the caller negates the channels where it decreases)."""
    t, inclusive, binary = _activation_rule(quantizer)
    scale = np.abs(affine.scale)
    up = (t - affine.shift) / scale
    if binary:
        return SignThresholds(layer, up, inclusive, up, not inclusive)
    down = (-t - affine.shift) / scale
    if t == 0:  # sign(0) is 0: both comparisons strict
        return SignThresholds(layer, up, False, down, False)
    return SignThresholds(layer, up, True, down, True)


def threshold_codes(found: SignThresholds, frac: int, lo: int, hi: int, where: str
                    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(upper, lower)`` codes of a type with ``frac`` fractional bits and codes [lo, hi]
    for kiln's ``SignThreshold`` (``y = (x > upper) - (x <= lower)``): exact on that grid.

    Raises:
        PrecisionError: a threshold below the type's range, which no code can express.
    """
    def scaled(values: Floats) -> list[float]:
        return [float(v) * 2.0**frac for v in values]

    upper = [math.ceil(v) - 1 if found.up_inclusive else math.floor(v)
             for v in scaled(found.up)]
    lower = [math.floor(v) if found.down_inclusive else math.ceil(v) - 1
             for v in scaled(found.down)]
    low = [c for c, (u, d) in enumerate(zip(upper, lower, strict=True)) if min(u, d) < lo]
    if low:
        raise PrecisionError(
            f"{where}: the binary/ternary activation switches below the smallest value of the "
            f"sum's type in channel(s) {low[:8]} (a batch-norm scale near zero, or a shift "
            "beyond the sum's range): its output there is constant, which hls4ml's thresholds "
            "cannot express. Fix: give the layer before it a wider result type (precision= "
            "with more integer bits), or retrain without the dead channel")
    return (np.minimum(np.array(upper, np.int64), hi),
            np.minimum(np.array(lower, np.int64), hi))


def exact_kernel_quantizer(values: Floats) -> str:
    """The narrowest signed ``quantized_bits(bits, integer, alpha=1)`` (hls4ml types it
    ``fixed<bits, integer + 1>``) that holds every one of ``values`` exactly.

    Raises:
        PrecisionError: the values need more than 62 bits (scales of very different sizes).
    """
    finite = values[values != 0]
    frac = 0
    while frac < 62 and not np.all(np.ldexp(finite, frac) == np.rint(np.ldexp(finite, frac))):
        frac += 1
    codes = np.rint(np.ldexp(values, frac)).astype(np.int64)
    peak = int(max(int(codes.max(initial=0)), -int(codes.min(initial=0)) - 1, 1))
    bits = peak.bit_length() + 1
    if bits > 62 or frac >= 62:
        raise PrecisionError(
            f"kernel values from {float(np.abs(finite).min())} to {float(np.abs(finite).max())}"
            " need more than 62 bits as one fixed-point type. Fix: use alpha=1")
    return f"quantized_bits({bits}, {bits - frac - 1}, alpha=1)"


def is_po2_kernel(quantizer: Any) -> bool:
    """A kernel quantizer whose values are powers of two, or codes scaled by one per
    channel: ``quantized_po2``, ``quantized_bits(alpha='auto_po2')``."""
    name = quantizer_name(quantizer) if quantizer is not None else ""
    return name == "quantized_po2" or (name == "quantized_bits"
                                       and getattr(quantizer, "alpha", None) == "auto_po2")


def _kernel_signs(layer: Any) -> tuple[Floats, Floats]:
    """``(codes, scale)``: the layer's kernel as QKeras quantizes it is ``scale * codes``,
    codes in {-1, 0, 1} (float64), ``scale`` one per output channel (the last axis)."""
    quantizer = layer.kernel_quantizer_internal
    values = np.asarray(quantizer(layer.kernel).numpy(), np.float64)
    channels = values.shape[-1]
    scale = getattr(quantizer, "scale", None)
    if isinstance(getattr(quantizer, "alpha", None), str) and scale is not None:
        scale = np.broadcast_to(np.asarray(scale, np.float64).reshape(-1), (channels,))
    else:
        alpha = getattr(quantizer, "alpha", None)
        scale = np.full(channels, 1.0 if alpha is None else float(alpha))
    codes = np.rint(values / scale)
    return codes, np.array(scale, np.float64)


def _bias(layer: Any, channels: int) -> Floats:
    """The layer's bias as QKeras adds it (zeros without one)."""
    if not getattr(layer, "use_bias", False):
        return np.zeros(channels)
    quantizer = getattr(layer, "bias_quantizer_internal", None)
    bias = layer.bias if quantizer is None else quantizer(layer.bias)
    return np.asarray(bias.numpy() if hasattr(bias, "numpy") else bias, np.float64)


def _sign_layers(name: str) -> list[Any]:
    """An identity BatchNormalization and a QActivation('ternary'), which hls4ml merges
    into one BatchNormalizationQuantizedTanh."""
    import qkeras
    from tensorflow import keras

    return [keras.layers.BatchNormalization(name=f"{name}_bn"),
            qkeras.QActivation(qkeras.ternary(), name=name)]


def _threshold_layer(model_graph: Any, sign: SignThresholds) -> Any:
    """The hls4ml layer a rewritten sign activation became: ``bnbt_<name>_bn``, or
    ``bnbt_<name>_scale`` where hls4ml fused the identity BatchNorm into the scale layer it
    puts before a QKeras ternary."""
    for layer in model_graph.get_layers():
        if (layer.class_name == "BatchNormalizationQuantizedTanh"
                and layer.name in (f"bnbt_{sign.layer}_bn", f"bnbt_{sign.layer}_scale")):
            return layer
    return None


def rewrite_layers(model: Any) -> tuple[Any, list[SignThresholds]]:
    """``model`` with its binary/ternary kernels and activations rewritten (see the module
    doc), and the thresholds :func:`set_sign_thresholds` writes after conversion; ``model``
    itself when it has none."""
    from tensorflow import keras

    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    if not any(_uses_sign(la) or is_po2_kernel(getattr(la, "kernel_quantizer_internal", None))
               or type(la).__name__ == "QBatchNormalization" for la in layers):
        return model, []
    built: list[tuple[Any, list[Floats] | None]] = []  # new layer, its weights
    signs: list[SignThresholds] = []
    # The map from the last sum to here: (index in built of the rewritten linear layer that
    # can negate channels, or None for any other layer; the map).
    pending: tuple[int | None, Affine] | None = None
    for index, layer in enumerate(layers):
        cls = type(layer).__name__
        activation = getattr(layer, "activation", None)
        if cls in KERNEL_LAYERS and is_sign_quantizer(layer.kernel_quantizer_internal):
            _close(built, pending)
            codes, scale = _kernel_signs(layer)
            bias = _bias(layer, codes.shape[-1])
            config = layer.get_config()
            config.update(kernel_quantizer=_LINEAR_QUANTIZER, bias_quantizer=_LINEAR_QUANTIZER
                          if is_sign_quantizer(getattr(layer, "bias_quantizer_internal", None))
                          else config.get("bias_quantizer"))
            if is_sign_quantizer(activation):
                config["activation"] = "linear"
            weights = [codes] + ([bias] if config.get("use_bias") else [])
            built.append((type(layer).from_config(config), weights))
            pending = (len(built) - 1, Affine(scale, bias))
            if is_sign_quantizer(activation):
                _fold(built, pending, layer.name + "_sign", activation, signs)
                pending = None
            continue
        if cls in KERNEL_LAYERS and is_po2_kernel(layer.kernel_quantizer_internal):
            _close(built, pending)
            pending = None
            values = np.asarray(layer.kernel_quantizer_internal(layer.kernel).numpy(),
                                np.float64)
            config = layer.get_config()
            config["kernel_quantizer"] = exact_kernel_quantizer(values)
            weights = layer.get_weights()
            built.append((type(layer).from_config(config), [values, *weights[1:]]))
            continue
        followed = index + 1 < len(layers) and _is_sign_activation(layers[index + 1])
        if cls in BATCHNORM_LAYERS and followed:
            channels = int(layer.input_shape[-1])
            start = pending or (None, Affine(np.ones(channels), np.zeros(channels)))
            pending = (start[0], start[1].then_batchnorm(layer))
            continue
        if _is_sign_activation(layer):
            channels = int(layer.input_shape[-1])
            _fold(built, pending or (None, Affine(np.ones(channels), np.zeros(channels))),
                  layer.name, layer.quantizer, signs)
            pending = None
            continue
        _close(built, pending)
        pending = None
        if cls == "QBatchNormalization":
            built.append(_plain_batchnorm(layer))
            continue
        built.append((type(layer).from_config(layer.get_config()), layer.get_weights()))
    _close(built, pending)
    inp = keras.Input(model.input_shape[1:], name=model.layers[0].name)
    x = inp
    for new, _ in built:
        x = new(x)
    rewritten = keras.Model(inp, x, name=model.name)
    for new, new_weights in built:
        if new_weights is not None:
            new.set_weights(new_weights)
    return rewritten, signs


def _plain_batchnorm(layer: Any) -> tuple[Any, list[Floats]]:
    """A QBatchNormalization as the Keras BatchNormalization it computes in inference: its
    parameters quantized (hls4ml 1.3 ignores the power-of-two quantizers QKeras gives it
    by default, and would build the float ones)."""
    from tensorflow import keras

    config = layer.get_config()
    bn = keras.layers.BatchNormalization(axis=config["axis"], epsilon=config["epsilon"],
                                         center=config["center"], scale=config["scale"],
                                         name=layer.name)
    gamma, beta, mean, variance = batchnorm_params(layer)
    weights = ([gamma] if config["scale"] else []) + ([beta] if config["center"] else [])
    return bn, [*weights, mean, variance]


def _uses_sign(layer: Any) -> bool:
    return any(is_sign_quantizer(getattr(layer, attr, None)) for attr in (
        "quantizer", "activation", "kernel_quantizer_internal", "bias_quantizer_internal"))


def _is_sign_activation(layer: Any) -> bool:
    return type(layer).__name__ == "QActivation" and is_sign_quantizer(layer.quantizer)


def _fold(built: list[tuple[Any, list[Floats] | None]],
          pending: tuple[int | None, Affine], name: str, quantizer: Any,
          signs: list[SignThresholds]) -> None:
    """Fold the map into a sign activation's thresholds: a rewritten linear layer keeps only
    its codes (channels whose map decreases negated, no bias), then the identity BatchNorm
    and ternary QActivation follow."""
    position, affine = pending
    if np.any(affine.scale == 0):
        raise PrecisionError(
            f"Layer {name!r}: a channel's batch-norm scale is 0, so the activation is constant "
            "there, which hls4ml's thresholds cannot express. Fix: retrain or drop the channel")
    if position is not None:
        layer, weights = built[position]
        assert weights is not None
        flip = np.where(affine.scale < 0, -1.0, 1.0)
        built[position] = (layer, [weights[0] * flip] + [np.zeros_like(w) for w in weights[1:]])
    elif np.any(affine.scale < 0):
        raise PrecisionError(
            f"Layer {name!r}: the batch norm before this binary/ternary activation has a "
            "negative scale in some channel, which kiln builds only after a QDense/QConv with "
            "a binary() or ternary() kernel (it negates that channel's kernel). Fix: give the "
            "layer before it a binary()/ternary() kernel, or keep gamma positive")
    signs.append(thresholds_for(name, quantizer, affine))
    bn, activation = _sign_layers(name)
    channels = len(affine.scale)
    built += [(bn, [np.ones(channels), np.zeros(channels), np.zeros(channels),
                    np.ones(channels) - bn.epsilon]), (activation, None)]


def _close(built: list[tuple[Any, list[Floats] | None]],
           pending: tuple[int | None, Affine] | None) -> None:
    """A rewritten linear layer no sign activation follows: its kernel is its codes times
    its scale, exact in fixed point when the scale is a power of two in every channel."""
    if pending is None or pending[0] is None or np.all(pending[1].scale == 1.0):
        return
    layer, weights = built[pending[0]]
    scale = pending[1].scale
    if weights is not None and np.all(np.exp2(np.rint(np.log2(scale))) == scale):
        values = weights[0] * scale
        config = layer.get_config()
        config["kernel_quantizer"] = exact_kernel_quantizer(values)
        built[pending[0]] = (type(layer).from_config(config), [values, *weights[1:]])
        return
    raise PrecisionError(
        f"Layer {layer.name!r}: its binary/ternary kernel has a scale per channel (alpha="
        "'auto' or a number other than 1) and no binary/ternary activation follows it, so no "
        "fixed-point weight holds it. Fix: use alpha=1, or follow the layer with a "
        "BatchNormalization and a binary()/ternary() activation")


def sign_problems(model: Any) -> list[str]:
    """Every binary/ternary use in ``model`` that :func:`rewrite_layers` cannot build,
    one line each with its fix (the layer check lists them with the others)."""
    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    problems = []
    pending: Any = None  # the last rewritten linear layer, while nothing else came after it
    for index, layer in enumerate(layers):
        cls = type(layer).__name__
        at = f"layer {layer.name!r} ({cls})"
        seen: list[Any] = []  # a QActivation holds its quantizer twice
        for attr in ("quantizer", "activation", "kernel_quantizer_internal",
                     "bias_quantizer_internal", "depthwise_quantizer_internal",
                     "pointwise_quantizer_internal"):
            quantizer = getattr(layer, attr, None)
            if quantizer is None or any(quantizer is other for other in seen):
                continue
            seen.append(quantizer)
            if fix := _quantizer_fix(quantizer, attr, cls):
                problems.append(f"{at}: {quantizer_name(quantizer)} {fix}")
        kernel: Any = getattr(layer, "kernel_quantizer_internal", None)
        if cls in KERNEL_LAYERS and is_sign_quantizer(kernel):
            pending = layer if has_float_scale(kernel) else None
            if is_sign_quantizer(getattr(layer, "activation", None)):
                pending = None
            continue
        if _is_sign_activation(layer) or (
                cls in BATCHNORM_LAYERS and index + 1 < len(layers)
                and _is_sign_activation(layers[index + 1])):
            pending = None
            continue
        if pending is not None:
            problems.append(f"layer {pending.name!r} ({type(pending).__name__}): its "
                            f"{pending.kernel_quantizer_internal} kernel has a scale per "
                            "channel and no binary/ternary activation follows it, so no "
                            "fixed-point weight holds it. Fix: use alpha=1, or follow the "
                            "layer with a BatchNormalization and a binary() activation")
            pending = None
    if pending is not None:
        problems.append(f"layer {pending.name!r}: its {pending.kernel_quantizer_internal} "
                        "kernel has a scale per channel and no binary/ternary activation "
                        "follows it. Fix: use alpha=1, or add BatchNormalization and binary()")
    return problems


def _quantizer_fix(quantizer: Any, attr: str, cls: str) -> str | None:
    """Why kiln cannot build this binary/ternary ``quantizer`` where it is, with the fix."""
    name = quantizer_name(quantizer)
    if name in SIGN_FIXES:
        return f"is not built by kiln. Fix: {SIGN_FIXES[name]}"
    if name not in SIGN_QUANTIZERS:
        return None
    if attr == "activation" and cls != "QActivation" and type(quantizer).__name__ == "function":
        return ("as a layer's activation is saved by QKeras in a form it cannot load again "
                "(kiln keeps the model in the artifact). Fix: put QActivation('binary_tanh') "
                "after the layer instead")
    if getattr(quantizer, "use_01", False):
        return ("with use_01=True (0 and 1) is not built by kiln. Fix: use_01=False (-1, +1) "
                "and retrain")
    alpha = getattr(quantizer, "alpha", None)
    if attr in ("quantizer", "activation") and alpha not in (None, 1, 1.0):
        return (f"as an activation with alpha={alpha!r} is not built by kiln (its output is "
                "-1, 0, +1). Fix: alpha=None")
    if attr == "kernel_quantizer_internal" and cls not in KERNEL_LAYERS:
        return (f"kernels are built by kiln in {', '.join(KERNEL_LAYERS)} only. Fix: use "
                "quantized_bits(2, 1, alpha=1) here")
    if attr in ("depthwise_quantizer_internal", "pointwise_quantizer_internal"):
        return "kernels of depthwise/separable layers are not built. Fix: quantized_bits(2, 1)"
    if attr == "bias_quantizer_internal" and alpha not in (None, 1, 1.0):
        return "bias with a scale is not built. Fix: alpha=None"
    return None


def set_sign_thresholds(model_graph: Any, signs: list[SignThresholds]) -> None:
    """Write each rewritten sign activation's thresholds into the hls4ml layer it became,
    as codes of that layer's input type (so the C simulation and kiln's lowering read the
    same comparisons).

    Raises:
        KilnError: hls4ml did not merge the activation into a BatchNormalizationQuantizedTanh
            (a layer between them, or an hls4ml version that builds it otherwise).
    """
    from hls4ml.backends.vivado.passes.bn_quant import (
        BatchNormalizationQuantizedTanhConfigTemplate,  # the layer's C++ config, written again
    )

    from kiln.errors import KilnError
    from kiln.frontend._lower import fixed_type

    for sign in signs:
        layer = _threshold_layer(model_graph, sign)
        if layer is None or layer.get_attr("quantize") != 3:
            raise KilnError(
                f"Layer {sign.layer!r}: hls4ml did not build this binary/ternary activation as "
                "one BatchNormalizationQuantizedTanh, which kiln needs to set its thresholds. "
                "Fix: put it right after the QDense/QConv (and BatchNormalization) it reads")
        in_t = fixed_type(layer.get_input_variable().type.precision,
                          f"Layer {sign.layer!r} input")
        upper, lower = threshold_codes(sign, in_t.frac, in_t.min_code, in_t.max_code,
                                       f"Layer {sign.layer!r}")
        # One pair per channel: hls4ml's stream form compiles only so (its output array
        # has n_scale_bias elements), and its parallel form reads [i % n_filt].
        shape = layer.get_input_variable().shape
        layer.set_attr("n_filt", len(upper) if len(shape) > 1 else -1)
        BatchNormalizationQuantizedTanhConfigTemplate().transform(model_graph, layer)
        for key, codes in (("threshold_hi", upper), ("threshold_lo", lower)):
            _set_weight_data(layer.get_weights(key), codes * 2.0**-in_t.frac)


def _set_weight_data(variable: Any, data: Floats) -> None:
    """Replace an hls4ml weight variable's values in place (the backend has already
    converted it to its own class, so it is not re-created), with the sizes its writer
    declares the array by."""
    variable.data = data
    variable.shape = list(data.shape)
    variable.data_length = int(data.size)
    variable.nonzeros = int(np.count_nonzero(data))
    variable.nzeros = variable.data_length - variable.nonzeros
    variable.min, variable.max = float(data.min()), float(data.max())
