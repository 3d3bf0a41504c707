"""Keras layer coverage: every unsupported layer listed at once with its fix, and
BatchNormalization (after a QDense, on the input) built bit-exact RTL == HLS == kiln.fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.errors import UnsupportedLayerError
from kiln.frontend import check_layers, layer_problems


def test_every_unsupported_layer_is_listed_once_with_its_fix() -> None:
    from qkeras import QActivation, quantized_relu_po2, quantized_sigmoid
    from tensorflow import keras

    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(2, 3, name="conv")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Lambda(lambda t: t, name="lambda")(x)
    x = QActivation(quantized_sigmoid(4, symmetric=True), name="sym_sigmoid")(x)
    x = QActivation(quantized_relu_po2(4), name="po2")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(x))
    assert len(layer_problems(model)) == 3  # the conv builds in io_parallel too
    with pytest.raises(UnsupportedLayerError) as info:
        check_layers(model)
    message = str(info.value)
    assert "3 layer(s)" in message and message.count("Fix:") == 3
    for name, fix in (("lambda", "replace the Lambda"),
                      ("sym_sigmoid", "symmetric=False"), ("po2", "use quantized_relu(bits")):
        line = next(line for line in message.splitlines() if f"'{name}'" in line)
        assert fix in line


def _batchnorm_model(case: str) -> Any:
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((8,), name="x")
    if case == "after_qdense":
        x = QActivation(quantized_bits(8, 2, alpha=1), name="q")(inp)
        x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1),
                   bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc")(x)
        x = keras.layers.BatchNormalization(name="bn")(x)
    else:  # on the input of a float model
        x = keras.layers.BatchNormalization(name="bn")(inp)
        x = keras.layers.Dense(4, name="fc")(x)
    model = keras.Model(inp, x, name=f"bn_{case}")
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, size=w.shape) for w in model.get_weights()])
    return model


@pytest.mark.verilator
@pytest.mark.parametrize("case", ["after_qdense", "on_input"])
def test_batchnorm_is_bit_exact_rtl_hls_fixed(case: str, tmp_path: Path) -> None:
    """hls4ml keeps these BatchNormalizations as layers (it folds only into an unquantized
    Dense with an untyped result); kiln builds each as a diagonal Dense."""
    import kiln
    from kiln.ir import Dense
    from kiln.verify import random_inputs

    art = kiln.compile(_batchnorm_model(case), tmp_path / case)
    assert any(isinstance(n, Dense) and n.name == "bn" for n in art.graph.nodes)
    runtime = kiln.load(art.path)
    x = random_inputs(runtime, 300, seed=1)
    report = runtime.compare(x, devices=["reference", "hls", "fpga-sim", "cpu"])
    assert report.all_bit_exact and report.row("fpga-sim").mismatches == 0
    assert report.row("cpu").argmax_vs_reference is not None
