"""QKeras QAT recipe: a binary 64-128-64-10 MLP on sklearn's bundled digits (8x8) data.

The hidden layers are binary: ``binary()`` weights (QKeras gives each output channel a
power-of-two scale) and a BatchNormalization then ``binary()`` activation (+1 or -1), which
kiln folds into one comparison per neuron (``SignThreshold``, docs/frontend.md). The input
is 6-bit and the logits layer 6-bit, as binary networks keep their first and last layers
wider. Run ``python -m models.digits_bnn`` to retrain; the result is saved beside this file
as ``digits_bnn.h5`` with ``digits_bnn.metrics.json`` (the same topology in float, Dense,
BatchNormalization and tanh, beside it). Deterministic, well under a minute on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.data import digits_split
from models.digits_mlp import BITS, deterministic_tensorflow, train_and_save

HERE = Path(__file__).resolve().parent
HIDDEN = (128, 64)
EPOCHS = 60


def build_model(quantized: bool = True, hidden: tuple[int, ...] = HIDDEN,
                name: str = "digits_bnn"):  # type: ignore[no-untyped-def]
    """The binary digits MLP (64 inputs, ``hidden`` binary layers, 10 logits of ``BITS``
    bits); with ``quantized=False`` the same topology in float Keras (tanh for the sign)."""
    from qkeras import QActivation, QDense, binary, quantized_bits
    from tensorflow import keras

    layers = keras.layers
    inp = keras.Input(shape=(64,), name="pixels")
    # Pixels are 0..16; the data loader scales them by 1/16, which ufixed<6,1> holds exactly.
    x = inp if not quantized else QActivation(
        quantized_bits(6, 1, keep_negative=False, alpha=1), name="input_q")(inp)
    for k, width in enumerate(hidden, start=1):
        if quantized:
            x = QDense(width, kernel_quantizer=binary(), use_bias=False, name=f"fc{k}")(x)
        else:
            x = layers.Dense(width, use_bias=False, name=f"fc{k}")(x)
        x = layers.BatchNormalization(name=f"bn{k}")(x)
        x = (QActivation(binary(), name=f"sign{k}") if quantized
             else layers.Activation("tanh", name=f"tanh{k}"))(x)
    if not quantized:
        return keras.Model(inp, layers.Dense(10, name="logits")(x), name=f"{name}_float")
    out = QDense(10, kernel_quantizer=quantized_bits(BITS, 0, alpha=1),
                 bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits")(x)
    return keras.Model(inp, out, name=name)


def main(out_dir: Path = HERE, epochs: int = EPOCHS, name: str = "digits_bnn") -> dict:
    deterministic_tensorflow()
    return train_and_save(name, lambda quantized: build_model(quantized, HIDDEN, name),
                          digits_split(), epochs, 1, out_dir)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
