"""QKeras QAT recipe: a small CNN on sklearn's 8x8 digits, and its depthwise-separable variant.

``python -m models.digits_cnn`` trains both and saves ``digits_cnn.h5`` and
``digits_cnn_sep.h5`` with their ``.metrics.json`` beside this file. Deterministic (fixed
seeds, single-threaded ops); each trains in well under a minute on two cores.

Topology (input 8x8x1): conv 3x3 (8 channels, 'valid') -> relu -> maxpool 2x2 -> conv 3x3
(8) -> relu -> flatten -> dense 10. The separable variant replaces the second convolution
by a depthwise 3x3 followed by a pointwise 1x1 convolution.

It is also a compression recipe (the contract ``kiln.explore`` reads, as in
``models/digits_mlp.py``): ``train(config)`` returns a trained QKeras model ready for
``kiln.compile`` and ``data()`` the test images and labels. Config keys: ``bits`` (default
6), ``sparsity`` (magnitude pruning of every kernel, default 0), ``distill`` (soft targets
from the float model of the same topology, default False), ``separable`` (the
depthwise-separable variant, default False), ``seed`` (1234), ``epochs`` (40),
``temperature`` (4) and ``alpha`` (0.3); other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def build_model(name: str = "digits_cnn", quantized: bool = True,  # type: ignore[no-untyped-def]
                bits: int = BITS):
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
        return {"kernel_quantizer": quantized_bits(bits, 0, alpha=1),
                "bias_quantizer": quantized_bits(bits, 0, alpha=1)}

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
    x = QActivation(quantized_relu(bits, 2), name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    if separable:
        x = QDepthwiseConv2D(3, name="dw2", depthwise_quantizer=quantized_bits(bits, 0, alpha=1),
                             bias_quantizer=quantized_bits(bits, 0, alpha=1))(x)
        x = QActivation(quantized_bits(bits, 2, alpha=1), name="dw2_q")(x)
        x = QConv2D(8, 1, name="pw2", **q())(x)
    else:
        x = QConv2D(8, 3, name="conv2", **q())(x)
    x = QActivation(quantized_relu(bits, 2), name="relu2")(x)
    x = layers.Flatten(name="flatten")(x)
    out = QDense(10, name="logits", **q())(x)
    return keras.Model(inp, out, name=name)


def main(out_dir: Path = HERE, epochs: int = 40) -> list[dict]:
    deterministic_tensorflow()
    x_tr, x_te, y_tr, y_te = digits_split()
    data = (images(x_tr), images(x_te), y_tr, y_te)
    return [train_and_save(name, lambda quantized, name=name: build_model(name, quantized),
                           data, epochs, BITS, out_dir) for name in VARIANTS]


EPOCHS = 40


def data() -> tuple[np.ndarray, np.ndarray]:
    """The test split as (N, 8, 8, 1) images and integer labels."""
    _, x_te, _, y_te = digits_split()
    return images(x_te), y_te


def train(config: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """The recipe: a QAT QKeras digits CNN trained as ``config`` says (keys in the module
    docstring; unknown keys are ignored), ready for ``kiln.compile``."""
    import tensorflow as tf

    from models.compress import Distillation, fit_compressed

    deterministic_tensorflow()
    name = VARIANTS[1] if config.get("separable", False) else VARIANTS[0]
    seed = int(config.get("seed", SEED))
    epochs = int(config.get("epochs", EPOCHS))
    x_tr, _, y_tr, _ = digits_split()
    x_tr = images(x_tr)
    mentor = None
    if config.get("distill", False):
        tf.keras.utils.set_random_seed(seed)
        mentor = fit_compressed(build_model(name, quantized=False), x_tr, y_tr, epochs=epochs)
    tf.keras.utils.set_random_seed(seed)
    model = build_model(name, True, int(config.get("bits", BITS)))
    return fit_compressed(model, x_tr, y_tr, epochs=epochs,
                          sparsity=float(config.get("sparsity", 0.0)), teacher=mentor,
                          distill=Distillation(float(config.get("temperature", 4.0)),
                                               float(config.get("alpha", 0.3))))


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
