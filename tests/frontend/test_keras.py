"""QKeras -> hls4ml -> kiln IR: bit-exactness of the lowering and errors on bad models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kiln import frontend, hls
from kiln.compiler import BuildOptions
from kiln.errors import ModelLoadError, PrecisionError, UnsupportedLayerError
from kiln.fixed import execute, from_float, to_float
from kiln.ir import Dense, Input, Relu


@pytest.fixture(scope="module")
def digits_hls(digits_model, tmp_path_factory):  # type: ignore[no-untyped-def]
    model_graph = frontend.convert(digits_model, tmp_path_factory.mktemp("hls"), BuildOptions())
    graph = frontend.lower(model_graph, "digits_mlp", BuildOptions())
    library = hls.write_and_compile(model_graph)
    csim = hls.CSim(library, graph.input.out_type, graph.output.out_type,
                    graph.input.size, graph.output.size)
    return graph, csim


def test_digits_lowering_shape_and_types(digits_hls) -> None:  # type: ignore[no-untyped-def]
    graph, _ = digits_hls
    kinds = [type(n) for n in graph.nodes]
    assert kinds == [Input, Dense, Relu, Dense, Relu, Dense]
    assert [n.size for n in graph.nodes] == [64, 32, 32, 32, 32, 10]
    # QKeras' quantized_bits(6, 1, keep_negative=False) grid, not hls4ml's signed fixed<6,2>
    assert str(graph.input.out_type) == "ufixed<6,1,RND_CONV,SAT>"
    assert str(graph.nodes[2].out_type) == "ufixed<6,2,RND_CONV,SAT>"


def test_executor_hls_and_qkeras_agree_on_every_test_sample(  # type: ignore[no-untyped-def]
        digits_hls, digits_model, digits_data) -> None:
    graph, csim = digits_hls
    _, x_test, _, y_test = digits_data
    codes = from_float(torch.from_numpy(x_test.astype(np.float64)), graph.input.out_type).numpy()
    kiln_codes = execute(graph, torch.from_numpy(codes))["output"].numpy()
    hls_codes = csim.run(codes)
    qkeras_values = digits_model.predict(x_test, verbose=0).astype(np.float64)
    qkeras_codes = from_float(torch.from_numpy(qkeras_values), graph.output.out_type).numpy()
    # QKeras' outputs are exactly representable: its quantizers define every type.
    assert np.array_equal(to_float(torch.from_numpy(qkeras_codes), graph.output.out_type).numpy(),
                          qkeras_values)
    assert len(codes) >= 360
    assert np.array_equal(kiln_codes, hls_codes)
    assert np.array_equal(kiln_codes, qkeras_codes)
    assert (kiln_codes.argmax(axis=1) == y_test).mean() > 0.9


def test_unsigned_input_quantizer_is_exact_for_any_float(  # type: ignore[no-untyped-def]
        digits_hls, digits_model) -> None:
    """Floats off the input grid, negative and beyond the top: the hardware's input cast
    (ufixed, RND_CONV, SAT) quantizes them exactly as QKeras's input quantizer does."""
    graph, csim = digits_hls
    x = np.random.default_rng(3).uniform(-1.0, 2.5, size=(2000, 64)).astype(np.float32)
    codes = from_float(torch.from_numpy(x.astype(np.float64)), graph.input.out_type).numpy()
    kiln_codes = execute(graph, torch.from_numpy(codes))["output"].numpy()
    qkeras_values = digits_model.predict(x, verbose=0).astype(np.float64)
    kiln_values = to_float(torch.from_numpy(kiln_codes), graph.output.out_type).numpy()
    assert np.array_equal(kiln_codes, csim.run(codes))
    assert np.array_equal(kiln_values, qkeras_values)


def test_unsupported_layer_is_named() -> None:
    from tensorflow import keras

    inp = keras.Input((8, 8, 1), name="image")
    out = keras.layers.UpSampling2D(name="up")(inp)
    model = keras.Model(inp, keras.layers.Flatten()(out))
    with pytest.raises(UnsupportedLayerError,
                       match=r"'up' \(UpSampling2D\).*Fix: remove the upsampling"):
        frontend.check_layers(model)


def test_float_model_without_precision_is_typed_from_its_values(tmp_path: Path) -> None:
    """No precision: every result gets a 16-bit type fitted over the input type's range."""
    from tensorflow import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(inp), name="plain")
    model.set_weights([np.full((4, 2), 3.0), np.zeros(2)])
    graph = frontend.lower(frontend.convert(model, tmp_path / "a", BuildOptions()), "plain",
                           BuildOptions())
    # |x| < 32 over fixed<16,6>: |fc| < 4 * 3 * 32 = 384 < 2**9, signed: 10 integer bits.
    assert str(graph.nodes[1].out_type) == "fixed<16,10,RND_CONV,SAT>"
    with pytest.raises(PrecisionError, match="'fixed<a,3>'"):
        frontend.convert(model, tmp_path / "b", BuildOptions(precision="fixed<a,3>"))


def test_missing_and_corrupt_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        frontend.load_keras(tmp_path / "nope.h5")
    corrupt = tmp_path / "broken.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="Cannot read Keras model"):
        frontend.load_keras(corrupt)
    arch = tmp_path / "arch.json"
    arch.write_text("{}")
    with pytest.raises(ModelLoadError, match="Weights for arch.json not found"):
        frontend.load_keras(arch)
    with pytest.raises(ModelLoadError, match="not a Keras model"):
        frontend.load_keras(object())
