"""QKeras QAT recipe: a 64-32-32-10 MLP on sklearn's bundled digits (8x8) data.

Run ``python -m models.digits_mlp`` to retrain; the result is saved beside this file as
``digits_mlp.h5`` with ``digits_mlp.metrics.json``. Training is deterministic (fixed seeds,
single-threaded ops) and takes well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.data import digits_split

HERE = Path(__file__).resolve().parent

BITS = 6
SEED = 1234


def build_model(quantized: bool = True, hidden: tuple[int, ...] = (32, 32), bits: int = BITS,
                name: str = "digits_mlp"):  # type: ignore[no-untyped-def]
    """The digits MLP (64 inputs, ``hidden`` ReLU layers, 10 logits); with
    ``quantized=False`` the same topology in float Keras."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    layers = keras.layers
    inp = keras.Input(shape=(64,), name="pixels")
    if not quantized:
        x = inp
        for k, width in enumerate(hidden, start=1):
            x = layers.Dense(width, activation="relu", name=f"fc{k}")(x)
        out = layers.Dense(10, name="logits")(x)
        return keras.Model(inp, out, name=f"{name}_float")

    def weights() -> dict:
        q = quantized_bits(bits, 0, alpha=1)
        return {"kernel_quantizer": q, "bias_quantizer": quantized_bits(bits, 0, alpha=1)}

    # Pixels are 0..16; the data loader scales them by 1/16, which ufixed<6,1> holds exactly.
    x = QActivation(quantized_bits(6, 1, keep_negative=False, alpha=1), name="input_q")(inp)
    for k, width in enumerate(hidden, start=1):
        x = QDense(width, name=f"fc{k}", **weights())(x)
        x = QActivation(quantized_relu(bits, 2), name=f"relu{k}")(x)
    out = QDense(10, name="logits", **weights())(x)
    return keras.Model(inp, out, name=name)


def train(model, x, y, epochs: int):  # type: ignore[no-untyped-def]
    from tensorflow import keras

    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    return model


def accuracy(model, x, y) -> float:  # type: ignore[no-untyped-def]
    return float((model.predict(x, verbose=0).argmax(axis=1) == y).mean())


def deterministic_tensorflow() -> None:
    """Deterministic ops on one thread each: a recipe retrains to the same model."""
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)


def train_and_save(name: str, build: Callable[[bool], Any], data: tuple[np.ndarray, ...],
                   epochs: int, bits: int, out_dir: Path) -> dict:
    """Train ``build(quantized=False)`` and ``build(quantized=True)`` from the same seed, save
    the quantized one as ``name.h5`` with both accuracies in ``name.metrics.json``."""
    import tensorflow as tf

    x_tr, x_te, y_tr, y_te = data
    tf.keras.utils.set_random_seed(SEED)
    float_model = train(build(False), x_tr, y_tr, epochs)
    tf.keras.utils.set_random_seed(SEED)
    qmodel = train(build(True), x_tr, y_tr, epochs)
    metrics = {
        "model": name,
        "test_samples": int(len(y_te)),
        "float_accuracy": accuracy(float_model, x_te, y_te),
        "quantized_accuracy": accuracy(qmodel, x_te, y_te),
        "bits": bits,
        "epochs": epochs,
    }
    qmodel.save(out_dir / f"{name}.h5")
    (out_dir / f"{name}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(out_dir: Path = HERE, epochs: int = 60, name: str = "digits_mlp",
         hidden: tuple[int, ...] = (32, 32), bits: int = BITS) -> dict:
    deterministic_tensorflow()
    return train_and_save(name, lambda quantized: build_model(quantized, hidden, bits, name),
                          digits_split(), epochs, bits, out_dir)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
