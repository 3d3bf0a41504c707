"""QKeras QAT recipe: a small CNN on sklearn's 8x8 digits, and its depthwise-separable variant.

``python -m models.digits_cnn`` trains both and saves ``digits_cnn.h5`` and
``digits_cnn_sep.h5`` with their ``.metrics.json`` beside this file. Deterministic (fixed
seeds, single-threaded ops); each trains in well under a minute on two cores.

Topology (input 8x8x1): conv 3x3 (8 channels, 'valid') -> relu -> maxpool 2x2 -> conv 3x3
(8) -> relu -> flatten -> dense 10. The separable variant replaces the second convolution
by a depthwise 3x3 followed by a pointwise 1x1 convolution.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.data import digits_split
from models.digits_mlp import deterministic_tensorflow, train_and_save

HERE = Path(__file__).resolve().parent

BITS = 6
SEED = 1234
VARIANTS = ("digits_cnn", "digits_cnn_sep")


def images(x: np.ndarray) -> np.ndarray:
    """Flat 64-pixel digits as (N, 8, 8, 1) images."""
    return x.reshape(-1, 8, 8, 1)


def build_model(name: str = "digits_cnn", quantized: bool = True):  # type: ignore[no-untyped-def]
    """One of VARIANTS; with ``quantized=False`` the same topology in float Keras."""
    from qkeras import (
        QActivation,
        QConv2D,
        QDense,
        QDepthwiseConv2D,
        quantized_bits,
        quantized_relu,
    )
    from tensorflow import keras

    layers = keras.layers
    separable = name == "digits_cnn_sep"
    inp = keras.Input(shape=(8, 8, 1), name="image")

    def q() -> dict:
        return {"kernel_quantizer": quantized_bits(BITS, 0, alpha=1),
                "bias_quantizer": quantized_bits(BITS, 0, alpha=1)}

    if not quantized:
        x = layers.Conv2D(8, 3, activation="relu", name="conv1")(inp)
        x = layers.MaxPooling2D(2, name="pool1")(x)
        if separable:
            x = layers.DepthwiseConv2D(3, name="dw2")(x)
            x = layers.Conv2D(8, 1, activation="relu", name="pw2")(x)
        else:
            x = layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
        x = layers.Flatten(name="flatten")(x)
        out = layers.Dense(10, name="logits")(x)
        return keras.Model(inp, out, name=f"{name}_float")

    # Pixels are 0..16 scaled by 1/16: ufixed<6,1> holds them exactly.
    x = QActivation(quantized_bits(6, 1, keep_negative=False, alpha=1), name="input_q")(inp)
    x = QConv2D(8, 3, name="conv1", **q())(x)
    x = QActivation(quantized_relu(BITS, 2), name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    if separable:
        x = QDepthwiseConv2D(3, name="dw2", depthwise_quantizer=quantized_bits(BITS, 0, alpha=1),
                             bias_quantizer=quantized_bits(BITS, 0, alpha=1))(x)
        x = QActivation(quantized_bits(BITS, 2, alpha=1), name="dw2_q")(x)
        x = QConv2D(8, 1, name="pw2", **q())(x)
    else:
        x = QConv2D(8, 3, name="conv2", **q())(x)
    x = QActivation(quantized_relu(BITS, 2), name="relu2")(x)
    x = layers.Flatten(name="flatten")(x)
    out = QDense(10, name="logits", **q())(x)
    return keras.Model(inp, out, name=name)


def main(out_dir: Path = HERE, epochs: int = 40) -> list[dict]:
    deterministic_tensorflow()
    x_tr, x_te, y_tr, y_te = digits_split()
    data = (images(x_tr), images(x_te), y_tr, y_te)
    return [train_and_save(name, lambda quantized, name=name: build_model(name, quantized),
                           data, epochs, BITS, out_dir) for name in VARIANTS]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
