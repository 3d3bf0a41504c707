"""Fixtures for the runtime tests: a tiny compiled model, for tests that build its RTL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny QKeras MLP (6 inputs of 6 bits, 3 outputs of 11 bits, latency 6), compiled:
    its Verilator build takes seconds where the digits MLP's takes minutes."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    import kiln

    def weights() -> dict[str, Any]:
        return {"kernel_quantizer": quantized_bits(4, 0, alpha=1),
                "bias_quantizer": quantized_bits(4, 0, alpha=1)}

    inp = keras.Input((6,), name="x")
    x = QActivation(quantized_bits(6, 2, alpha=1), name="input_q")(inp)
    x = QDense(5, name="fc1", **weights())(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = QDense(3, name="fc2", **weights())(x)
    model = keras.Model(inp, x, name="tiny")
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-1, 1, size=w.shape) for w in model.get_weights()])
    return kiln.compile(model, tmp_path_factory.mktemp("fpga") / "tiny")
