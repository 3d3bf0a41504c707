"""Compression recipes (models/compress.py, the train(config)/data() contract of
models/digits_mlp.py and models/digits_cnn.py): pruning reaches its target and leaves plain
QKeras layers, distillation's loss is the documented mix, unknown config keys are ignored.
Tiny epochs: these check the levers work, not the accuracy they buy (docs/codesign.md)."""

from __future__ import annotations

import numpy as np
import pytest

from models import compress, digits_cnn, digits_mlp


def _kernels(model) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    return {layer.name: layer.get_weights()[0] for layer in model.layers
            if compress.prunable(layer)}


def test_recipe_data_is_the_test_split() -> None:
    x, y = digits_mlp.data()
    assert x.shape == (450, 64) and y.shape == (450,) and y.dtype.kind == "i"
    images, labels = digits_cnn.data()
    assert images.shape == (450, 8, 8, 1) and np.array_equal(labels, y)


def test_pruned_recipe_reaches_its_sparsity_and_strips_the_wrappers() -> None:
    model = digits_mlp.train({"epochs": 2, "sparsity": 0.7, "bits": 4, "reuse_factor": 4,
                              "hidden": (16,)})
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "QActivation", "QDense", "QActivation", "QDense"]
    kernels = _kernels(model)
    assert set(kernels) == {"fc1", "logits"}
    for name, kernel in kernels.items():
        assert (kernel == 0).mean() == pytest.approx(0.7, abs=0.01), name
    assert model.get_layer("fc1").kernel_quantizer_internal.bits == 4
    assert compress.kernel_sparsity(model) >= 0.69


def test_dense_recipe_is_deterministic() -> None:
    config = {"epochs": 1, "hidden": (8,), "seed": 7}
    first, second = digits_mlp.train(config), digits_mlp.train(config)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert compress.kernel_sparsity(first) < 0.5


def test_distilled_recipe_trains() -> None:
    model = digits_mlp.train({"epochs": 1, "hidden": (8,), "teacher_hidden": (16,),
                              "distill": True, "seed": 3})
    x, _ = digits_mlp.data()
    assert model.predict(x[:4], verbose=0).shape == (4, 10)


def test_pruned_cnn_recipe() -> None:
    model = digits_cnn.train({"epochs": 1, "sparsity": 0.5, "separable": True})
    assert model.name == "digits_cnn_sep"
    assert compress.kernel_sparsity(model) == pytest.approx(0.5, abs=0.05)


def test_distillation_loss_is_the_documented_mix() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    student = rng.normal(size=(5, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=5)
    hard = tf.keras.losses.sparse_categorical_crossentropy(labels, student, from_logits=True)

    only_hard = compress.distillation_loss(compress.Distillation(alpha=1.0), 10)
    packed = compress.pack_targets(labels, rng.normal(size=(5, 10)))
    np.testing.assert_allclose(only_hard(packed, student), hard, rtol=1e-5)

    # The teacher agrees with the student: the soft term vanishes.
    mixed = compress.distillation_loss(compress.Distillation(temperature=3.0, alpha=0.25), 10)
    np.testing.assert_allclose(mixed(compress.pack_targets(labels, student), student),
                               0.25 * hard.numpy(), rtol=1e-4, atol=1e-6)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="temperature"):
        compress.Distillation(temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        compress.Distillation(alpha=1.5)
    with pytest.raises(ValueError, match="sparsity"):
        compress.check_sparsity(1.0)
