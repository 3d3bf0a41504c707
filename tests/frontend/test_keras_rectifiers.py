"""Keras models with LeakyReLU, PReLU, ELU and ThresholdedReLU layers (and Dense(activation=
"elu")) through ``kiln.compile``: the whole flow (check, hls4ml conversion, lowering, RTL, the
artifact) gives RTL == HLS C-sim == kiln.fixed, io_parallel and io_stream; the settings hls4ml
cannot convert are refused before conversion, each with its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.errors import UnsupportedLayerError
from kiln.frontend import check_layers


def _model() -> Any:
    from tensorflow import keras

    inp = keras.Input((6,), name="x")
    x = keras.layers.Dense(8, name="fc1")(inp)
    x = keras.layers.LeakyReLU(alpha=0.1, name="leaky")(x)
    x = keras.layers.Dense(8, name="fc2")(x)
    x = keras.layers.PReLU(name="prelu")(x)
    x = keras.layers.Dense(6, activation="elu", name="fc3")(x)
    x = keras.layers.Dense(6, name="fc4")(x)
    x = keras.layers.ELU(alpha=0.7, name="elu")(x)
    x = keras.layers.Dense(4, name="fc5")(x)
    model = keras.Model(inp, keras.layers.ThresholdedReLU(theta=0.25, name="thresh")(x))
    rng = np.random.default_rng(14)
    model.set_weights([rng.uniform(-1, 1, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.slow  # two hls4ml C simulations
@pytest.mark.verilator
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_rectifiers_compile_bit_exact(io_type: str, tmp_path: Path) -> None:
    import kiln
    from kiln.ir import Elu, LeakyRelu

    art = kiln.compile(_model(), tmp_path / io_type, io_type=io_type, precision="fixed<14,5>")
    kinds = [type(n) for n in art.graph.nodes]
    assert kinds.count(LeakyRelu) == 3 and kinds.count(Elu) == 2
    runtime = kiln.load(art.path)
    x = np.random.default_rng(1).uniform(-4, 4, (400, 6))
    report = runtime.compare(x, devices=["hls", "fpga-sim", "cpu"])
    assert report.baseline == "hls"
    assert report.row("fpga-sim").mismatches == 0 and report.row("cpu").mismatches == 0
    codes = runtime.device("hls").run(runtime.input_codes(x)).outputs
    assert len(np.unique(codes)) > 50  # the outputs vary: the layers are not stuck at 0


def test_unconvertible_settings_are_refused_with_the_fix() -> None:
    from tensorflow import keras

    inp = keras.Input((4, 4, 2), name="x")
    x = keras.layers.PReLU(shared_axes=[1, 2], name="shared")(inp)
    x = keras.layers.ReLU(negative_slope=0.1, name="sloped")(x)
    model = keras.Model(inp, x)
    with pytest.raises(UnsupportedLayerError) as info:
        check_layers(model, "io_stream")
    message = str(info.value)
    assert "'shared' (PReLU): shared_axes=[1, 2]" in message and "Fix: shared_axes=None" in message
    assert "'sloped' (ReLU)" in message and "Fix: use LeakyReLU(negative_slope)" in message


def test_leaky_quantized_relu_is_not_claimed_equal_to_qkeras() -> None:
    """QKeras clips quantized_relu(4, 0, negative_slope=0.5) at -0.5; hls4ml's result type
    (fixed<4,1>) goes down to -1, so beyond x = -1 they differ: the manifest must not claim
    equality, even with a quantized input (nor for the float Keras rectifiers)."""
    import qkeras
    from tensorflow import keras

    from kiln.compiler import BuildOptions
    from kiln.frontend._keras import reference_is_bit_exact

    inp = keras.Input((1,), name="x")
    x = qkeras.QActivation(qkeras.quantized_bits(16, 5, alpha=1), name="q")(inp)
    leaky = qkeras.QActivation(qkeras.quantized_relu(4, 0, negative_slope=0.5), name="leaky")
    model = keras.Model(inp, leaky(x))
    assert float(model.predict(np.array([[-4.0]], np.float32), verbose=0)[0, 0]) == -0.5
    assert not reference_is_bit_exact(model, BuildOptions())
    plain = keras.Model(inp, qkeras.QActivation(qkeras.quantized_relu(4, 0), name="r")(x))
    assert reference_is_bit_exact(plain, BuildOptions())  # the check is not always False
    for layer in (keras.layers.LeakyReLU(0.5), keras.layers.ELU(), keras.layers.PReLU(),
                  keras.layers.ThresholdedReLU(0.5)):
        assert not reference_is_bit_exact(keras.Model(inp, layer(x)), BuildOptions())
