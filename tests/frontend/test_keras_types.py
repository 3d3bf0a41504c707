"""The Keras front end never mis-converts silently: QKeras quantizers without an input
quantizer, unsigned kernels, table activations, float models (KERAS_3layer) and
BatchNormalization; each built bit-exact HLS == kiln.fixed (and RTL where marked) or refused
by name with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln import frontend, hls
from kiln.compiler import BuildOptions
from kiln.errors import PrecisionError
from kiln.fixed import execute, from_float, to_float
from kiln.ir import Graph

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "example-models"


def _build(model: Any, out: Path, **options: Any) -> tuple[Graph, hls.CSim]:
    build = BuildOptions(**options)
    model_graph = frontend.convert(model, out, build)
    graph = frontend.lower(model_graph, "m", build)
    library = hls.write_and_compile(model_graph)
    return graph, hls.CSim(library, graph.input.out_type, graph.output.out_type,
                           graph.input.size, graph.output.size)


def _run(graph: Graph, csim: hls.CSim, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kiln.fixed's output values for ``x`` (asserting HLS C-sim gives the same codes) and
    the inputs as the hardware sees them."""
    codes = from_float(torch.from_numpy(x.astype(np.float64)), graph.input.out_type).numpy()
    out = execute(graph, torch.from_numpy(codes))["output"].numpy()
    assert np.array_equal(out, csim.run(codes))
    seen = to_float(torch.from_numpy(codes), graph.input.out_type).numpy()
    return to_float(torch.from_numpy(out), graph.output.out_type).numpy(), seen


def _weights(model: Any, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-1, 1, size=w.shape) for w in model.get_weights()])
    return model


def test_trailing_quantizer_is_kept_without_an_input_quantizer(tmp_path: Path) -> None:
    """hls4ml's merge_linear_activation dropped QActivation(quantized_bits(8, 2)) after a
    QDense when the input had no quantizer (the output stayed the wide accumulator)."""
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((8,), name="x")
    x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc")(inp)
    model = _weights(keras.Model(inp, QActivation(quantized_bits(8, 2), name="act")(x)))
    graph, csim = _build(model, tmp_path)
    assert str(graph.output.out_type) == "fixed<8,3,RND_CONV,SAT>"
    x = np.random.default_rng(1).uniform(-3, 3, size=(2000, 8))
    values, seen = _run(graph, csim, x)
    # On the input grid (fixed<16,6>) QKeras and the hardware compute the same numbers.
    assert np.array_equal(values, model.predict(seen.astype(np.float32), verbose=0))


def test_unsigned_kernel_quantizer(tmp_path: Path) -> None:
    """keep_negative=False kernels: exact with an input quantizer (hls4ml's bit_exact types
    them ufixed), refused by name without one (hls4ml would type them signed fixed<4,2>)."""
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    def model(input_quantizer: bool) -> Any:
        inp = keras.Input((8,), name="x")
        x = QActivation(quantized_bits(8, 2, alpha=1), name="q")(inp) if input_quantizer else inp
        x = QDense(4, kernel_quantizer=quantized_bits(4, 1, keep_negative=False, alpha=1),
                   bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc")(x)
        return _weights(keras.Model(inp, x))

    with pytest.raises(PrecisionError, match=r"'fc'.*keep_negative=False.*QActivation"):
        frontend.convert(model(False), tmp_path / "refused", BuildOptions())
    quantized = model(True)
    graph, csim = _build(quantized, tmp_path / "exact")
    assert str(graph.nodes[1].weight_type).startswith("ufixed<4,1")
    x = np.random.default_rng(2).uniform(-4, 4, size=(2000, 8)).astype(np.float32)
    values, _ = _run(graph, csim, x)
    assert np.array_equal(values, quantized.predict(x, verbose=0))


def test_real_sigmoid_is_not_claimed_bit_exact() -> None:
    """quantized_sigmoid(use_real_sigmoid=True) is a 1024-entry table in hardware: 1 LSB off
    QKeras on some inputs, so the manifest must not claim equality with QKeras."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_sigmoid
    from tensorflow import keras

    inp = keras.Input((8,), name="x")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q")(inp)
    x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc")(x)
    exact = keras.Model(inp, x)
    table = keras.Model(inp, QActivation(quantized_sigmoid(7, use_real_sigmoid=True),
                                         name="sig")(x))
    assert frontend.reference_is_bit_exact(exact, BuildOptions())
    assert not frontend.reference_is_bit_exact(table, BuildOptions())


@pytest.fixture(scope="module")
def keras_3layer() -> Any:
    path = EXAMPLES / "KERAS_3layer.json"
    if not path.is_file():
        pytest.skip(f"hls4ml example models not found at {path}")
    return frontend.load_keras(path).model


def test_float_keras_3layer_default_options_agree_with_keras(  # type: ignore[no-untyped-def]
        keras_3layer, tmp_path: Path) -> None:
    """Issue 14: with hls4ml's auto types every class got 0.2002 (argmax agreement 0-50%).
    With no precision kiln fits each type to the values over the input range."""
    graph, csim = _build(keras_3layer, tmp_path)
    t = graph.input.out_type
    codes = np.random.default_rng(3).integers(t.min_code, t.max_code + 1, size=(2000, 16))
    values, seen = _run(graph, csim, codes * t.lsb)
    keras_out = keras_3layer.predict(seen.astype(np.float32), verbose=0)
    assert (values.argmax(axis=1) == keras_out.argmax(axis=1)).mean() >= 0.95
    assert len(set(map(tuple, values.round(3)))) > 100  # not one answer for every input


def test_float_precision_types_every_tensor(keras_3layer, tmp_path: Path  # type: ignore[no-untyped-def]
                                            ) -> None:
    """precision= types every weight, bias and result (saturating), accumulators exact; the
    softmax reads its gaps at 1/128 resolution."""
    graph, csim = _build(keras_3layer, tmp_path, precision="fixed<16,6>")
    results = {str(n.out_type) for n in graph.nodes[1:]}
    assert results == {"fixed<16,6,TRN,SAT>"}
    softmax = graph.nodes[-1]
    assert str(softmax.inp_norm_type) == "ufixed<10,3,TRN,SAT>"  # type: ignore[attr-defined]
    x = np.random.default_rng(4).normal(0, 1, size=(2000, 16))
    values, seen = _run(graph, csim, x)
    keras_out = keras_3layer.predict(seen.astype(np.float32), verbose=0)
    assert (values.argmax(axis=1) == keras_out.argmax(axis=1)).mean() >= 0.95


def test_float_tanh_in_a_quantized_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    from kiln.errors import UnsupportedLayerError

    inp = keras.Input((8,), name="x")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q")(inp)
    x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1), name="fc")(x)
    model = keras.Model(inp, keras.layers.Activation("tanh", name="act")(x))
    with pytest.raises(UnsupportedLayerError, match=r"'act'.*use_real_tanh=True"):
        frontend.convert(model, tmp_path, BuildOptions())


@pytest.mark.parametrize("pool, exact", [
    ("AveragePooling1D(2)", True), ("AveragePooling1D(3)", False),
    ("GlobalAveragePooling1D()", True), ("AveragePooling1D(3, strides=1)", False),
])
def test_an_average_over_other_than_a_power_of_two_is_not_claimed_bit_exact(
        pool: str, exact: bool) -> None:
    """hls4ml divides by N in fixed point, Keras in float32: a divide by 3 differed from
    QKeras on 300 of 300 outputs while RTL == HLS held; a power of two divides exactly."""
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    inp = keras.Input((8, 2), name="x")
    x = QActivation(quantized_bits(6, 2, alpha=1), name="q")(inp)
    model = keras.Model(inp, eval(f"keras.layers.{pool}", {"keras": keras})(x))
    assert frontend.reference_is_bit_exact(model, BuildOptions()) is exact
