"""QKeras power-of-two kernels (their exact values), and binary and ternary kernels and
activations (kiln.frontend._keras_rewrite): a binary network with batch norms of both signs,
per-channel alpha scales and every QKeras sign rule equals QKeras through kiln.fixed, and
(slow) RTL == HLS C-sim == kiln.fixed; what kiln does not build is refused, every layer at
once, each with its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln.errors import PrecisionError, UnsupportedLayerError


def _bnn(conv: bool = False) -> Any:
    """Input quantizer -> binary kernel -> BatchNorm (gammas of both signs) -> binary()
    -> ternary(alpha='auto') kernel -> BatchNorm -> ternary(threshold=0.2) -> ternary
    kernel -> binary_tanh -> a quantized_bits Dense: every rewrite in one chain."""
    import qkeras as q
    from tensorflow import keras

    shape = (6, 6, 2) if conv else (12,)
    inp = keras.Input(shape, name="x")
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    if conv:
        x = q.QConv2D(6, 3, kernel_quantizer=q.binary(), bias_quantizer=q.quantized_bits(6, 2),
                      name="conv")(x)
        x = keras.layers.BatchNormalization(name="bn0")(x)
        x = q.QActivation(q.binary(), name="sign0")(x)
        x = keras.layers.Flatten(name="flat")(x)
    else:
        x = q.QDense(16, kernel_quantizer=q.binary(), bias_quantizer=q.quantized_bits(6, 2),
                     name="fc0")(x)
        x = keras.layers.BatchNormalization(name="bn0")(x)
        x = q.QActivation(q.binary(), name="sign0")(x)
    x = q.QDense(10, kernel_quantizer=q.ternary(alpha="auto"),
                 bias_quantizer=q.quantized_bits(6, 2), name="fc1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = q.QActivation(q.ternary(threshold=0.2), name="sign1")(x)
    x = q.QDense(8, kernel_quantizer=q.ternary(alpha=1), bias_quantizer=q.quantized_bits(4, 2),
                 name="fc2")(x)
    x = q.QActivation("binary_tanh", name="sign2")(x)
    x = q.QDense(4, kernel_quantizer=q.quantized_bits(4, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(4, 1, alpha=1), name="out")(x)
    model = keras.Model(inp, x, name="bnn")
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(0.5, 2.0, w.shape) if "variance" in v.name
                       else rng.uniform(-1, 1, w.shape)
                       for v, w in zip(model.weights, model.get_weights(), strict=True)])
    return model


def _lowered_and_run(model: Any, tmp_path: Path, io_type: str = "io_parallel",
                     samples: int = 2000) -> tuple[Any, np.ndarray, np.ndarray]:
    """``model`` converted and lowered, and its outputs on ``samples`` random codes of its
    input type: (graph, kiln.fixed's as floats, Keras's), one row per sample."""
    from kiln import frontend
    from kiln.compiler import BuildOptions
    from kiln.fixed import execute, to_float

    options = BuildOptions(io_type=io_type)
    graph = frontend.lower(frontend.convert(model, tmp_path, options), "m", options)
    t = graph.input.out_type
    rng = np.random.default_rng(4)
    codes = torch.from_numpy(rng.integers(t.min_code, t.max_code + 1,
                                          (samples, *model.input_shape[1:])))
    got = to_float(execute(graph, codes.reshape(samples, -1))["output"], graph.output.out_type)
    want = model.predict(to_float(codes, t).numpy().astype(np.float32), verbose=0)
    return graph, got.numpy(), want.reshape(samples, -1)


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
def test_binary_network_equals_qkeras(conv: bool, tmp_path: Path) -> None:
    """kiln.fixed == QKeras on 2,000 inputs over the input type, and the thresholds are
    the IR's: a SignThreshold per sign activation, batch norms folded into them."""
    from kiln import frontend
    from kiln.compiler import BuildOptions
    from kiln.ir import SIGN_TYPE, SignThreshold

    model = _bnn(conv)
    graph, got, want = _lowered_and_run(model, tmp_path, "io_stream" if conv else "io_parallel")
    signs = [n for n in graph.nodes if isinstance(n, SignThreshold)]
    assert len(signs) == 3 and all(n.out_type == SIGN_TYPE for n in signs)
    assert not any(n.name.startswith(("bn0", "bn1")) for n in graph.nodes)
    assert not frontend.reference_is_bit_exact(model, BuildOptions())  # float batch norms
    assert np.array_equal(got, want)


def test_exact_sign_models_are_claimed_bit_exact() -> None:
    """Without a batch norm or a scale that is not a power of two every comparison is
    exact: the manifest claims equality with QKeras. (QKeras turns a kernel's alpha=None
    into 'auto_po2': a power of two per channel, which folds exactly.)"""
    import qkeras as q
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input((4,), name="x")
    quantized = q.QActivation(q.quantized_bits(6, 2, alpha=1), name="input_q")(inp)
    x = q.QDense(3, kernel_quantizer=q.ternary(alpha=1), bias_quantizer=q.binary(),
                 activation=q.binary(), name="fc")(quantized)
    x = q.QDense(3, kernel_quantizer=q.binary(), use_bias=False, name="fc2")(x)
    exact = keras.Model(inp, q.QActivation("binary_tanh", name="sign")(x))
    assert frontend.reference_is_bit_exact(exact, BuildOptions())
    scaled = keras.Model(inp, q.QActivation(q.binary(), name="sign")(q.QDense(
        3, kernel_quantizer=q.ternary(alpha="auto"), name="fc")(quantized)))
    assert not frontend.reference_is_bit_exact(scaled, BuildOptions())


def test_what_kiln_does_not_build_is_refused_at_once() -> None:
    import qkeras as q
    from tensorflow import keras

    from kiln.frontend import check_layers

    inp = keras.Input((4,), name="x")
    x = q.QDense(3, kernel_quantizer=q.stochastic_ternary(), name="stochastic")(inp)
    x = q.QActivation(q.binary(use_01=True), name="zero_one")(x)
    x = q.QDense(3, kernel_quantizer=q.ternary(alpha="auto"), name="scaled")(x)
    x = q.QActivation(q.quantized_relu(4), name="relu")(x)
    x = q.QDense(3, kernel_quantizer=q.binary(), activation="binary_tanh", name="unsaved")(x)
    with pytest.raises(UnsupportedLayerError) as caught:
        check_layers(keras.Model(inp, x, name="m"))
    message = str(caught.value)
    assert "4 layer(s)" in message, message
    for pattern in ("'stochastic'.*stochastic_ternary.*Fix: use ternary\\(\\)",
                    "'zero_one'.*use_01=True.*Fix: use_01=False",
                    "'unsaved'.*cannot load again.*Fix: put QActivation",
                    "'scaled'.*scale per channel.*Fix: use alpha=1"):
        import re

        assert re.search(pattern, message), (pattern, message)


def test_negative_batchnorm_without_a_sign_kernel_is_refused(tmp_path: Path) -> None:
    """A sign activation after a quantized_bits Dense and a batch norm with a negative
    gamma: the comparison flips, which kiln builds only by negating a sign kernel."""
    import qkeras as q
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input((4,), name="x")
    x = q.QDense(2, kernel_quantizer=q.quantized_bits(4, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(4, 1, alpha=1), name="fc")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, q.QActivation(q.binary(), name="sign")(x))
    model.get_layer("bn").set_weights([np.array([1.0, -1.0]), np.zeros(2), np.zeros(2),
                                       np.ones(2)])
    with pytest.raises(PrecisionError, match="'sign'.*negative scale.*Fix:"):
        frontend.convert(model, tmp_path, BuildOptions())


@pytest.mark.slow  # two C simulation builds and Verilator
@pytest.mark.verilator
@pytest.mark.icarus
@pytest.mark.parametrize("conv, io_type", [(False, "io_parallel"), (True, "io_stream"),
                                           (True, "io_parallel")],
                         ids=["dense", "conv-stream", "conv-parallel"])
def test_binary_network_bit_exact_everywhere(conv: bool, io_type: str, tmp_path: Path) -> None:
    """kiln.compile and verify: RTL == HLS C-sim == kiln.fixed on 500 random inputs, and
    equal to QKeras on every one (not claimed: float batch norms)."""
    import kiln
    from kiln.verify import verify

    kiln.compile(_bnn(conv), tmp_path / "bnn", io_type=io_type)
    report = verify(tmp_path / "bnn", samples=500, protocol=conv)
    assert report.samples == 500
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.icarus_mismatches) == (0, 0, 0)
    assert report.rtl_vs_reference_mismatches is None and report.max_lsb_vs_reference == 0
    if conv:
        assert report.protocol_passed and report.protocol_mismatches == 0


@pytest.mark.parametrize("kernel", ["quantized_po2(4)", "quantized_bits(4, 0, alpha='auto_po2')",
                                    "binary(alpha='auto_po2')"])
def test_power_of_two_kernels_take_their_exact_values(kernel: str, tmp_path: Path) -> None:
    """A power-of-two kernel (or codes scaled by one per channel) is built with its exact
    values in one fixed-point type: kiln.fixed == QKeras on 2,000 inputs, claimed."""
    import qkeras as q
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input((8,), name="x")
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    x = q.QDense(5, kernel_quantizer=eval(kernel, vars(q)),
                 bias_quantizer=q.quantized_bits(6, 2, alpha=1), name="fc")(x)
    model = keras.Model(inp, q.QActivation(q.quantized_relu(8, 3), name="relu")(x))
    rng = np.random.default_rng(8)
    model.set_weights([rng.uniform(-3, 3, w.shape) for w in model.get_weights()])
    assert frontend.reference_is_bit_exact(model, BuildOptions())
    _, got, want = _lowered_and_run(model, tmp_path)
    assert np.array_equal(got, want)


def test_equality_is_claimed_only_where_float32_sums_are_exact() -> None:
    """A sum type over 24 significant bits (what float32 holds) makes the framework's own
    arithmetic round, so no claim; a max pool's unused accumulator field does not count."""
    from kiln.frontend import float32_exact
    from kiln.ir import Dense, FixedType, Graph, Input, Pool, frozen_codes

    def graph(accum: FixedType, pool: str) -> Graph:
        x = Input(name="x", source="", shape=(2, 2, 1), out_type=FixedType(8, 2))
        p = Pool(name="p", source="x", shape=(1, 1, 1), out_type=FixedType(8, 2),
                 kernel=(2, 2), stride=(2, 2), op=pool, accum_type=FixedType(40, 20))
        d = Dense(name="d", source="p", shape=(1,), out_type=FixedType(16, 6),
                  weight=frozen_codes([[1]]), bias=frozen_codes([0]),
                  weight_type=FixedType(4, 2), bias_type=FixedType(4, 2), accum_type=accum)
        return Graph(name="g", nodes=(x, p, d), io_type="io_stream")

    assert float32_exact(graph(FixedType(24, 10), "max"))
    assert float32_exact(graph(FixedType(25, 10, signed=True), "max"))  # 24 bits + sign
    assert not float32_exact(graph(FixedType(26, 10), "max"))
    assert not float32_exact(graph(FixedType(24, 10), "average"))


def test_a_weight_without_a_quantizer_is_not_claimed() -> None:
    """A QDense whose bias (or kernel) has no quantizer holds float values that hls4ml
    rounds to its type: equality with QKeras is measured, not claimed."""
    import qkeras as q
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input((8,), name="x")
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    bits = q.quantized_bits(4, 1, alpha=1)
    for kwargs, claimed in (({"bias_quantizer": bits}, True), ({"use_bias": False}, True),
                            ({}, False)):
        model = keras.Model(inp, q.QDense(3, kernel_quantizer=bits, name="fc", **kwargs)(x))
        assert frontend.reference_is_bit_exact(model, BuildOptions()) == claimed, kwargs


@pytest.mark.parametrize("sign", [False, True], ids=["scale-shift", "folded"])
def test_qbatchnormalization_uses_its_quantized_parameters(sign: bool, tmp_path: Path) -> None:
    """A QBatchNormalization (QKeras's default power-of-two quantizers on every parameter,
    which hls4ml ignores) computes with its quantized parameters: built as a batch norm of
    those (or folded into a binary activation's thresholds), kiln.fixed equals QKeras on
    2,000 inputs; with the float parameters nearly every output would differ."""
    import qkeras as q
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input((8,), name="x")
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    x = q.QDense(6, kernel_quantizer=q.binary() if sign else q.quantized_bits(6, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc")(x)
    x = q.QBatchNormalization(name="qbn")(x)
    after = q.binary() if sign else q.quantized_relu(6, 2)
    model = keras.Model(inp, q.QActivation(after, name="act")(x))
    rng = np.random.default_rng(2)
    model.set_weights([rng.uniform(0.5, 2, w.shape) if "variance" in v.name or "gamma" in v.name
                       else rng.uniform(-1, 1, w.shape)
                       for v, w in zip(model.weights, model.get_weights(), strict=True)])
    assert not frontend.reference_is_bit_exact(model, BuildOptions())  # a float batch norm
    _, got, want = _lowered_and_run(model, tmp_path)
    assert np.array_equal(got, want)
