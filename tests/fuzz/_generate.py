"""Random models for the fuzz suite, each built from one integer seed and nothing else.

``fuzz_model(seed)`` draws a framework (QKeras, a float Keras model typed by ``precision=``,
or Brevitas), a topology (MLP, or a small io_stream Conv1D/Conv2D network with max pooling),
widths, bit widths, signed and unsigned activation quantizers, rounding and overflow modes,
and reuse factors, then builds the model with seeded weights. The same seed gives the same
model, options and inputs on every machine: a failing seed reproduces with
``python -m tests.fuzz SEED`` (see docs/verification.md).

What each framework lets the seed vary:

- QKeras: ``quantized_bits`` (signed, or unsigned with ``keep_negative=False``) and
  ``quantized_relu`` activations; hls4ml types every QKeras quantizer ``RND_CONV``/``SAT``
  and every accumulator exact (``WRAP`` never fires), so the model defines every type and is
  compared for equality.
- Keras float (``precision="fixed<W,I,RND,OVF>"``): the rounding mode (``TRN``, ``RND``,
  ``RND_CONV``, ...) and overflow mode (``SAT``, ``SAT_SYM``, ``WRAP``, ...) of every weight,
  bias and layer result come from the seed. The float model is not a bit-exact reference, so
  that one comparison is skipped (and said so); RTL == HLS == kiln.fixed still holds.
- Brevitas: power-of-two fixed-point quantizers; weights ``narrow_range`` or not
  (hls4ml: ``SAT_SYM`` or ``SAT``), signed (``QuantIdentity``) and unsigned (``QuantReLU``)
  activations rounded ``ROUND`` (``RND_CONV``) or ``FLOOR`` (``TRN``).

Bit widths are kept so every accumulator fits float32's 24-bit mantissa: the framework
models compute in float32 and must be exact for the equality to mean anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiln.ir import valid_reuse_factors

FRAMEWORKS = ("qkeras", "keras-float", "brevitas")
TOPOLOGIES = ("mlp", "conv1d", "conv2d")
# Modes a float model's precision= may name; kiln.ir knows more (ROUNDING_MODES,
# OVERFLOW_MODES) but these are the ones ap_fixed and kiln.fixed share with hls4ml's writer.
FLOAT_ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
FLOAT_OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


@dataclass(frozen=True)
class Layer:
    """A layer kiln may fold: its name in kiln's IR and its window's Dense size.
    ``foldable`` is False for a 1-wide convolution: hls4ml makes it a pointwise convolution,
    which kiln builds with reuse factor 1 only (docs/folding.md)."""

    name: str
    n_in: int
    n_out: int
    foldable: bool = True


@dataclass
class FuzzModel:
    """One random model and how to compile and check it.

    Attributes:
        seed: the only input of the generator.
        framework: ``qkeras``, ``keras-float`` or ``brevitas``.
        topology: ``mlp``, ``conv1d`` or ``conv2d``.
        model: the Keras model or torch module.
        options: keyword options for ``kiln.compile`` (io_type, reuse_factor, precision,
            input_precision, input_shape).
        framework_exact: the framework model defines every type, so it is compared with the
            hardware by equality; else ``skip_reason`` says why it is not.
        summary: one line describing the model (shown on failure).
    """

    seed: int
    framework: str
    topology: str
    model: Any
    options: dict[str, Any]
    framework_exact: bool
    summary: str
    skip_reason: str = ""
    layers: list[Layer] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"fuzz{self.seed}_{self.framework.replace('-', '_')}_{self.topology}"


def _choice(rng: np.random.Generator, items: tuple[str, ...] | list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _reuse(rng: np.random.Generator, layers: list[Layer]) -> int | dict[str, int]:
    """No folding, one factor valid for every layer, or a random valid factor per layer."""
    roll = rng.random()
    if roll < 0.35:
        return 1
    if roll < 0.55 and all(x.foldable for x in layers):
        common = set.intersection(*(set(valid_reuse_factors(x.n_in, x.n_out)) for x in layers))
        return int(_choice(rng, sorted(common)))
    # Factors up to 64: a factor near n_in*n_out makes a large layer slow to simulate.
    out = {}
    for layer in layers:
        valid = [r for r in valid_reuse_factors(layer.n_in, layer.n_out) if r <= 64]
        fold = layer.foldable and rng.random() < 0.7
        out[layer.name] = int(_choice(rng, valid)) if fold else 1
    return out


# ---------------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class ConvStage:
    """One convolution: filters, square kernel, 'same' padding (else 'valid'), and whether a
    2-wide max pooling follows it."""

    filters: int
    kernel: int
    same: bool
    pool: bool

    def __repr__(self) -> str:
        return (f"conv{self.kernel}x{self.filters}{'s' if self.same else ''}"
                f"{'+pool' if self.pool else ''}")


@dataclass(frozen=True)
class Shape:
    """The random architecture every framework builds: conv stages then dense layers."""

    input_shape: tuple[int, ...]        # channels last (Keras); torch gets channels first
    convs: tuple[ConvStage, ...]
    dense: tuple[int, ...]              # units of each dense layer, the last is the output

    def sides_after(self, count: int) -> list[int]:
        """Spatial sides after the first ``count`` conv stages."""
        sides = list(self.input_shape[:-1])
        for stage in self.convs[:count]:
            if not stage.same:
                sides = [s - stage.kernel + 1 for s in sides]
            if stage.pool:
                sides = [s // 2 for s in sides]
        return sides

    @property
    def flat_size(self) -> int:
        """Inputs of the first dense layer."""
        if not self.convs:
            return int(np.prod(self.input_shape))
        return int(np.prod(self.sides_after(len(self.convs)))) * self.convs[-1].filters


def _shape(rng: np.random.Generator, topology: str, brevitas: bool) -> Shape:
    """Brevitas models get no 'same' padding (not what this suite checks in torch) and no
    MaxPool1d: hls4ml 1.3 cannot convert its QONNX MaxPool (``Attribute "pad_left" of layer
    MaxPool_0 (Pooling1D) not set``; reported, kiln passes it on as a KilnError)."""
    dense = tuple(int(v) for v in rng.integers(1, 13, size=int(rng.integers(1, 4))))
    if topology == "mlp":
        return Shape((int(rng.integers(1, 17)),), (), dense)
    channels = int(rng.integers(1, 4))
    sides = ([int(rng.integers(4, 9)), int(rng.integers(4, 9))] if topology == "conv2d"
             else [int(rng.integers(5, 14))])
    input_shape = (*sides, channels)
    convs: list[ConvStage] = []
    for _ in range(int(rng.integers(1, 3))):
        kernel = int(rng.integers(1, 4))
        same = not brevitas and kernel > 1 and bool(rng.random() < 0.3)
        after = sides if same else [s - kernel + 1 for s in sides]
        if min(after) < 1:
            break
        pool = min(after) >= 2 and bool(rng.random() < 0.5)
        pool = pool and not (brevitas and topology == "conv1d")
        sides = [s // 2 for s in after] if pool else after
        convs.append(ConvStage(int(rng.integers(1, 5)), kernel, same, pool))
    if not convs:  # an input too small for the kernel drawn: a 1-wide one
        convs.append(ConvStage(int(rng.integers(1, 5)), 1, False, False))
    return Shape(input_shape, tuple(convs), dense[-2:])


def _layers(shape: Shape, conv_names: list[str], dense_names: list[str]) -> list[Layer]:
    """The foldable layers and their window sizes."""
    out = []
    channels = shape.input_shape[-1]
    spatial = len(shape.input_shape) - 1
    for name, stage in zip(conv_names, shape.convs, strict=True):
        out.append(Layer(name, stage.kernel ** spatial * channels, stage.filters,
                         foldable=stage.kernel > 1))
        channels = stage.filters
    n_in = shape.flat_size
    for name, units in zip(dense_names, shape.dense, strict=True):
        out.append(Layer(name, n_in, units))
        n_in = units
    return out


# ---------------------------------------------------------------------------------- Keras


def _keras(rng: np.random.Generator, shape: Shape, quantized: bool) -> tuple[Any, str]:
    """A QKeras model (or its float twin) of ``shape`` and a description of its quantizers."""
    from qkeras import QActivation, QConv1D, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    layers = keras.layers
    conv2d = len(shape.input_shape) == 3
    notes: list[str] = []
    inp = keras.Input(shape=shape.input_shape, name="x")
    x = inp

    def bits_q(bits: int, integer: int, signed: bool = True) -> Any:
        return quantized_bits(bits, integer, keep_negative=signed, alpha=1)

    def weights_q() -> dict[str, Any]:
        wb, wi = int(rng.integers(2, 7)), int(rng.integers(0, 2))
        bb, bi = int(rng.integers(2, 7)), int(rng.integers(0, 3))
        notes.append(f"w{wb},{wi} b{bb},{bi}")
        return {"kernel_quantizer": bits_q(wb, wi), "bias_quantizer": bits_q(bb, bi)}

    def activation(name: str, last: bool) -> Any:
        if not quantized:
            return layers.Activation("relu", name=name) if not last else None
        kind = _choice(rng, ("relu", "bits", "ubits") if not last else
                       ("none", "bits", "ubits", "relu"))
        if kind == "none":
            return None
        bits, integer = int(rng.integers(3, 9)), int(rng.integers(0, 5))
        integer = min(integer, bits - 1 if kind == "bits" else bits)
        notes.append(f"{name}:{kind}{bits},{integer}")
        if kind == "relu":
            return QActivation(quantized_relu(bits, integer), name=name)
        if kind == "bits":
            return QActivation(bits_q(bits, integer), name=name)
        return QActivation(bits_q(bits, integer, signed=False), name=name)

    if quantized:
        bits = int(rng.integers(2, 9))
        signed = bool(rng.random() < 0.5)
        integer = int(rng.integers(0, 3))
        integer = min(integer, bits - 1)
        notes.append(f"in:{'s' if signed else 'u'}{bits},{integer}")
        x = QActivation(bits_q(bits, integer, signed), name="input_q")(x)
    for i, stage in enumerate(shape.convs, start=1):
        padding = "same" if stage.same else "valid"
        if quantized:
            conv = (QConv2D if conv2d else QConv1D)(stage.filters, stage.kernel, name=f"conv{i}",
                                                    padding=padding, **weights_q())
        else:
            conv = (layers.Conv2D if conv2d else layers.Conv1D)(
                stage.filters, stage.kernel, name=f"conv{i}", padding=padding)
        x = conv(x)
        act = activation(f"act_c{i}", last=False)
        x = act(x) if act is not None else x
        if stage.pool:
            x = (layers.MaxPooling2D if conv2d else layers.MaxPooling1D)(2, name=f"pool{i}")(x)
    if shape.convs:
        x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(shape.dense, start=1):
        last = i == len(shape.dense)
        dense = (QDense(units, name=f"fc{i}", **weights_q()) if quantized
                 else layers.Dense(units, name=f"fc{i}"))
        x = dense(x)
        act = activation(f"act{i}", last=last)
        x = act(x) if act is not None else x
    model = keras.Model(inp, x, name="fuzz")
    # Weights uniform over each quantizer's range (zeros too): QKeras quantizes them in its
    # forward pass and hls4ml with the same quantizer.
    model.set_weights([rng.uniform(-1.5, 1.5, size=w.shape).astype(np.float32)
                       * (rng.random(w.shape) > 0.15) for w in model.get_weights()])
    return model, " ".join(notes)


def _keras_names(shape: Shape) -> tuple[list[str], list[str]]:
    return ([f"conv{i}" for i in range(1, len(shape.convs) + 1)],
            [f"fc{i}" for i in range(1, len(shape.dense) + 1)])


# ---------------------------------------------------------------------------------- Brevitas


def _brevitas_quantizers(rng: np.random.Generator, notes: list[str]
                         ) -> dict[str, Callable[..., Any]]:
    """Factories of power-of-two Brevitas quantizers with seeded bit widths and modes."""
    from brevitas.core.scaling import ScalingImplType
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    def weight() -> type:
        bits, narrow = int(rng.integers(2, 7)), bool(rng.random() < 0.5)
        notes.append(f"w{bits}{'n' if narrow else ''}")
        return type("W", (Int8WeightPerTensorFixedPoint,), {"bit_width": bits,
                                                            "narrow_range": narrow})

    def bias() -> type:
        bits = int(rng.integers(3, 8))
        notes.append(f"b{bits}")
        return type("B", (Int8BiasPerTensorFixedPointInternalScaling,), {"bit_width": bits})

    def act(signed: bool, name: str) -> type:
        bits = int(rng.integers(2, 8))
        max_val = float(2.0 ** int(rng.integers(-1, 3)))
        floor = bool(rng.random() < 0.4)
        notes.append(f"{name}:{'s' if signed else 'u'}{bits}<{max_val:g}"
                     f"{' floor' if floor else ''}")
        base = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
        attrs: dict[str, Any] = {"bit_width": bits, "scaling_impl_type": ScalingImplType.CONST,
                                 "max_val": max_val}
        if signed:
            attrs["min_val"] = -max_val
        if floor:
            attrs["float_to_int_impl_type"] = FloatToIntImplType.FLOOR
        return type("A", (base,), attrs)

    return {"weight": weight, "bias": bias, "act": act}


def _brevitas(rng: np.random.Generator, shape: Shape) -> tuple[Any, str]:
    import brevitas.nn as qnn
    import torch
    from torch import nn

    notes: list[str] = []
    q = _brevitas_quantizers(rng, notes)
    conv2d = len(shape.input_shape) == 3
    modules: list[nn.Module] = [qnn.QuantIdentity(act_quant=q["act"](bool(rng.random() < 0.5),
                                                                       "in"),
                                                  return_quant_tensor=True)]
    channels = shape.input_shape[-1]
    for stage in shape.convs:
        conv = qnn.QuantConv2d if conv2d else qnn.QuantConv1d
        modules.append(conv(channels, stage.filters, stage.kernel, bias=True,
                            weight_quant=q["weight"](), bias_quant=q["bias"](),
                            return_quant_tensor=True))
        modules.append(_brevitas_act(rng, q))
        if stage.pool:  # conv1d: never drawn, see _shape
            modules.append(nn.MaxPool2d(2) if conv2d else nn.MaxPool1d(2))
        channels = stage.filters
    if shape.convs:
        modules.append(nn.Flatten())
    n_in = shape.flat_size
    for i, units in enumerate(shape.dense):
        last = i == len(shape.dense) - 1
        modules.append(qnn.QuantLinear(n_in, units, bias=True, weight_quant=q["weight"](),
                                       bias_quant=q["bias"](), return_quant_tensor=not last))
        if not last:
            modules.append(_brevitas_act(rng, q))
        n_in = units
    model = nn.Sequential(*modules)
    generator = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-1.0, 1.0, generator=generator))
    return model.eval(), " ".join(notes)


def _brevitas_act(rng: np.random.Generator, q: dict[str, Callable[..., Any]]) -> Any:
    import brevitas.nn as qnn

    if rng.random() < 0.6:
        return qnn.QuantReLU(act_quant=q["act"](False, "relu"), return_quant_tensor=True)
    return qnn.QuantIdentity(act_quant=q["act"](True, "id"), return_quant_tensor=True)


# ---------------------------------------------------------------------------------- entry


def fuzz_model(seed: int) -> FuzzModel:
    """The random model of ``seed`` (the only input: same seed, same model)."""
    rng = np.random.default_rng([seed, 0x6B696C6E])
    framework = str(_choice(rng, FRAMEWORKS))
    topology = str(_choice(rng, TOPOLOGIES))
    shape = _shape(rng, topology, brevitas=framework == "brevitas")
    io_type = "io_parallel" if topology == "mlp" else "io_stream"
    options: dict[str, Any] = {"io_type": io_type}
    skip = ""
    if framework == "brevitas":
        model, notes = _brevitas(rng, shape)
        torch_shape = (shape.input_shape[-1], *shape.input_shape[:-1])
        options["input_shape"] = torch_shape
        layers = _torch_layers(model, shape)
    else:
        model, notes = _keras(rng, shape, framework == "qkeras")
        layers = _layers(shape, *_keras_names(shape))
        if framework == "keras-float":
            width = int(rng.integers(6, 15))
            integer = int(rng.integers(2, min(width, 7)))
            rnd, ovf = str(_choice(rng, FLOAT_ROUNDING)), str(_choice(rng, FLOAT_OVERFLOW))
            options["precision"] = f"fixed<{width},{integer},{rnd},{ovf}>"
            options["input_precision"] = f"fixed<{int(rng.integers(4, 11))},{integer}>"
            notes = f"precision {options['precision']} input {options['input_precision']}"
            skip = ("float Keras model: precision= types every tensor, the float model "
                    "computes in float32 without those types")
    options["reuse_factor"] = _reuse(rng, layers)
    summary = (f"seed {seed}: {framework} {topology} in {shape.input_shape} "
               f"convs {list(shape.convs)} dense {list(shape.dense)} [{notes}] "
               f"reuse {options['reuse_factor']}")
    return FuzzModel(seed, framework, topology, model, options, not skip, summary, skip, layers)


def _torch_layers(model: Any, shape: Shape) -> list[Layer]:
    """hls4ml names a QONNX graph's layers by ONNX node (Dense_MatMul_0, Conv_0, ...): kiln's
    layer names for the reuse factors."""
    conv_names = [f"Conv_{i}" for i in range(len(shape.convs))]
    dense_names = [f"Dense_MatMul_{i}" for i in range(len(shape.dense))]
    del model
    return _layers(shape, conv_names, dense_names)

