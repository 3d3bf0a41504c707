"""A recipe small enough for a test: a 64-8-10 QKeras MLP on sklearn's 8x8 digits, one
epoch (seconds). Config keys: ``bits`` (weights and ReLUs, default 4), ``hidden`` (8),
``seed`` (0), ``epochs`` (1). ``fail`` (True) or ``bits`` over 16 raise at once, to test a
failing trial."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def data() -> tuple[np.ndarray, np.ndarray]:
    return _split()[1::2]  # type: ignore[return-value]


def _split() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target.astype(np.int64),
                                              test_size=0.25, random_state=0,
                                              stratify=digits.target)
    return x_tr, x_te, y_tr, y_te


def train(config: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    bits = int(config.get("bits", 4))
    if config.get("fail") or bits > 16:
        raise ValueError(f"this configuration fails on purpose (bits={bits})")
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    tf.keras.utils.set_random_seed(int(config.get("seed", 0)))
    inp = keras.Input(shape=(64,), name="pixels")
    x = QActivation(quantized_bits(6, 1, keep_negative=False, alpha=1), name="input_q")(inp)
    x = QDense(int(config.get("hidden", 8)), name="fc1",
               kernel_quantizer=quantized_bits(bits, 0, alpha=1),
               bias_quantizer=quantized_bits(bits, 0, alpha=1))(x)
    x = QActivation(quantized_relu(bits, 2), name="relu1")(x)
    out = QDense(10, name="logits", kernel_quantizer=quantized_bits(bits, 0, alpha=1),
                 bias_quantizer=quantized_bits(bits, 0, alpha=1))(x)
    model = keras.Model(inp, out, name="tiny_mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x_tr, _, y_tr, _ = _split()
    model.fit(x_tr, y_tr, epochs=int(config.get("epochs", 1)), batch_size=32, verbose=0)
    return model
