"""QKeras QAT recipe: a 64-32-32-10 MLP on sklearn's bundled digits (8x8) data.

Run ``python -m models.digits_mlp`` to retrain; the result is saved beside this file as
``digits_mlp.h5`` with ``digits_mlp.metrics.json``. Training is deterministic (fixed seeds,
single-threaded ops) and takes well under a minute on two cores.

It is also a compression recipe (the contract ``kiln.explore`` reads): ``train(config)``
returns a trained QKeras model ready for ``kiln.compile`` and ``data()`` the test inputs and
labels. Config keys: ``bits`` (weight/activation width, default 6), ``sparsity`` (magnitude
pruning target of every kernel, 0..1, default 0), ``distill`` (train from a float teacher's
soft targets, default False), ``seed`` (default 1234); also ``epochs`` (60), ``hidden``
((32, 32)), ``teacher_hidden`` ((64, 64)), ``temperature`` (4) and ``alpha`` (0.3). Other
keys are ignored. See docs/codesign.md for what each lever buys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
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


def fit(model, x, y, epochs: int):  # type: ignore[no-untyped-def]
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

    if (tf.config.threading.get_inter_op_parallelism_threads() == 1
            and tf.config.threading.get_intra_op_parallelism_threads() == 1):
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        # TensorFlow already ran ops in this process (a recipe called after other work):
        # its thread pools are fixed now; the seeds still apply.
        pass


def train_and_save(name: str, build: Callable[[bool], Any], data: tuple[np.ndarray, ...],
                   epochs: int, bits: int, out_dir: Path) -> dict:
    """Train ``build(quantized=False)`` and ``build(quantized=True)`` from the same seed, save
    the quantized one as ``name.h5`` with both accuracies in ``name.metrics.json``."""
    import tensorflow as tf

    x_tr, x_te, y_tr, y_te = data
    tf.keras.utils.set_random_seed(SEED)
    float_model = fit(build(False), x_tr, y_tr, epochs)
    tf.keras.utils.set_random_seed(SEED)
    qmodel = fit(build(True), x_tr, y_tr, epochs)
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


EPOCHS = 60
TEACHER_HIDDEN = (64, 64)
_TEACHERS: dict[tuple, Any] = {}


def data() -> tuple[np.ndarray, np.ndarray]:
    """The test split: (x_test, y_test), the inputs kiln feeds the compiled model and the
    integer labels."""
    _, x_te, _, y_te = digits_split()
    return x_te, y_te


def teacher(hidden: tuple[int, ...] = TEACHER_HIDDEN, seed: int = SEED,
            epochs: int = EPOCHS):  # type: ignore[no-untyped-def]
    """The float teacher for distillation: a float Keras MLP (default 64-64-64-10), trained
    on the training split; cached per (hidden, seed, epochs) within the process."""
    import tensorflow as tf

    deterministic_tensorflow()
    key = (tuple(hidden), seed, epochs)
    if key not in _TEACHERS:
        x_tr, _, y_tr, _ = digits_split()
        tf.keras.utils.set_random_seed(seed)
        _TEACHERS[key] = fit(build_model(False, tuple(hidden), name="digits_mlp_teacher"),
                             x_tr, y_tr, epochs)
    return _TEACHERS[key]


def train(config: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """The recipe: a QAT QKeras digits MLP trained as ``config`` says (keys in the module
    docstring; unknown keys are ignored), pruning wrappers stripped, ready for
    ``kiln.compile``."""
    import tensorflow as tf

    from models.compress import Distillation, fit_compressed

    deterministic_tensorflow()
    bits = int(config.get("bits", BITS))
    seed = int(config.get("seed", SEED))
    epochs = int(config.get("epochs", EPOCHS))
    hidden = tuple(int(h) for h in config.get("hidden", (32, 32)))
    x_tr, _, y_tr, _ = digits_split()
    mentor = None
    if config.get("distill", False):
        mentor = teacher(tuple(config.get("teacher_hidden", TEACHER_HIDDEN)), seed, epochs)
    distill = Distillation(float(config.get("temperature", 4.0)),
                           float(config.get("alpha", 0.3)))
    tf.keras.utils.set_random_seed(seed)
    model = build_model(True, hidden, bits)
    return fit_compressed(model, x_tr, y_tr, epochs=epochs,
                          sparsity=float(config.get("sparsity", 0.0)), teacher=mentor,
                          distill=distill)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
