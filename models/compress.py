"""Compression levers shared by the Keras recipes: magnitude pruning during QAT
(tensorflow-model-optimization) and knowledge distillation from a float teacher.

A recipe calls :func:`fit_compressed` in place of a plain ``model.fit``: it wraps the
prunable layers in ``prune_low_magnitude`` when ``sparsity > 0``, mixes the hard-label loss
with the teacher's soft targets when a teacher is given, and returns the trained model with
the pruning wrappers stripped (the plain QKeras layers, zeros in their kernels), ready for
``kiln.compile``. Zero weights cost nothing in kiln's RTL: a constant multiplier by zero has
no adder, so sparsity turns directly into LUTs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Distillation:
    """Soft targets: ``alpha`` of the loss is the hard-label cross entropy, ``1 - alpha`` the
    KL divergence from the teacher's softmax at temperature ``temperature`` (scaled by T^2,
    Hinton et al. 2015)."""

    temperature: float = 4.0
    alpha: float = 0.3

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, not {self.temperature!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], not {self.alpha!r}")


def check_sparsity(sparsity: float) -> float:
    sparsity = float(sparsity)
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be within [0, 1), not {sparsity!r}")
    return sparsity


def prunable(layer: Any) -> bool:
    """Layers whose kernels are pruned: the dense and convolution kernels (QKeras or Keras);
    activations, pooling and the input quantizer have nothing to prune."""
    return any(hasattr(layer, attr) for attr in ("kernel", "depthwise_kernel"))


def wrap_for_pruning(model: Any, sparsity: float, begin_step: int, end_step: int,
                     frequency: int) -> Any:
    """``model`` with every prunable layer wrapped in ``prune_low_magnitude``: sparsity rises
    from 0 at ``begin_step`` to ``sparsity`` at ``end_step`` (polynomial decay, cubic) and
    stays there."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=sparsity, begin_step=begin_step,
        end_step=max(end_step, begin_step + 1), frequency=max(frequency, 1))

    def clone(layer: Any) -> Any:
        if prunable(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    return tf.keras.models.clone_model(model, clone_function=clone)


def strip(model: Any) -> Any:
    """The model without pruning wrappers (the pruned kernels keep their zeros)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def distillation_loss(distill: Distillation, classes: int) -> Any:
    """A Keras loss on targets packed as ``[one-hot labels | teacher logits]`` (see
    :func:`pack_targets`) and the student's logits."""
    import tensorflow as tf

    t = float(distill.temperature)
    alpha = float(distill.alpha)

    def loss(packed: Any, logits: Any) -> Any:
        hard, teacher = packed[:, :classes], packed[:, classes:]
        hard_loss = tf.keras.losses.categorical_crossentropy(hard, logits, from_logits=True)
        soft_teacher = tf.nn.softmax(teacher / t)
        log_student = tf.nn.log_softmax(logits / t)
        kl = tf.reduce_sum(soft_teacher * (tf.math.log(soft_teacher + 1e-12) - log_student),
                           axis=-1)
        return alpha * hard_loss + (1.0 - alpha) * (t * t) * kl

    return loss


def pack_targets(y: np.ndarray, teacher_logits: np.ndarray) -> np.ndarray:
    """Integer labels and the teacher's logits as one float array for
    :func:`distillation_loss`."""
    classes = teacher_logits.shape[1]
    onehot = np.eye(classes, dtype=np.float32)[np.asarray(y, dtype=np.int64)]
    return np.concatenate([onehot, teacher_logits.astype(np.float32)], axis=1)


def fit_compressed(model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int,
                   batch_size: int = 32, learning_rate: float = 3e-3, sparsity: float = 0.0,
                   teacher: Any = None, distill: Distillation | None = None,
                   prune_fraction: float = 0.6) -> Any:
    """Train ``model`` (QAT when it is a QKeras model) on integer labels ``y``.

    Args:
        model: an uncompiled Keras/QKeras functional model with logits as output.
        sparsity: the magnitude-pruning target of every dense/conv kernel (0: dense). It is
            reached after ``prune_fraction`` of the epochs; the rest fine-tunes at it.
        teacher: a trained float Keras model with the same output (logits): when given, the
            loss mixes hard labels with its soft targets (``distill``, default
            :class:`Distillation`).

    Returns:
        The trained model without pruning wrappers.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    sparsity = check_sparsity(sparsity)
    steps_per_epoch = -(-len(x) // batch_size)
    callbacks: list[Any] = []
    if sparsity > 0:
        # Dense for the first epoch (when there are enough), then prune every half epoch
        # until the target is reached on a pruning step (the schedule stops at end_step).
        frequency = max(1, steps_per_epoch // 2)
        begin = steps_per_epoch if epochs >= 4 else 0
        updates = max(1, (int(prune_fraction * epochs) * steps_per_epoch - begin) // frequency)
        model = wrap_for_pruning(model, sparsity, begin_step=begin,
                                 end_step=begin + updates * frequency, frequency=frequency)
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    classes = int(model.output_shape[-1])
    if teacher is not None:
        targets: np.ndarray = pack_targets(y, teacher.predict(x, verbose=0))
        loss = distillation_loss(distill or Distillation(), classes)
    else:
        targets = y
        loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss)
    model.fit(x, targets, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True,
              callbacks=callbacks)
    return strip(model) if sparsity > 0 else model


def kernel_sparsity(model: Any) -> float:
    """The fraction of zero weights over every dense/conv kernel of ``model`` (after
    quantization when the layer has a kernel quantizer)."""
    zeros = total = 0
    for layer in model.layers:
        if not prunable(layer):
            continue
        kernel = layer.get_weights()[0]
        quantizer = getattr(layer, "kernel_quantizer_internal", None) or getattr(
            layer, "depthwise_quantizer_internal", None)
        if quantizer is not None:
            kernel = np.asarray(quantizer(kernel))
        zeros += int((kernel == 0).sum())
        total += kernel.size
    return zeros / total if total else 0.0

