"""Compression levers shared by the PyTorch/Brevitas recipes: magnitude pruning during QAT
(torch.nn.utils.prune) and knowledge distillation from a float teacher.

The torch twin of :mod:`models.compress` (the Keras one), with the same settings: a recipe
calls :func:`fit_compressed` in place of its plain training loop. With ``sparsity > 0`` every
dense/conv weight (``nn.Linear``/``nn.Conv*``, Brevitas ``QuantLinear``/``QuantConv2d``
included) is magnitude-pruned (``l1_unstructured``, per layer) along tfmot's cubic schedule,
and the masks are made permanent (``prune.remove``) at the end, so the returned model holds
plain weights with zeros that its QONNX export, and kiln's RTL, carry. With a teacher, the
loss mixes the hard labels with the teacher's soft targets (:class:`Distillation`, shared
with the Keras recipes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from models.compress import Distillation, check_sparsity

__all__ = ["Distillation", "PruningSchedule", "distillation_loss", "fit_compressed",
           "make_permanent", "prunable_modules", "prune_to", "weight_sparsity"]


def prunable_modules(model: nn.Module) -> list[nn.Module]:
    """The modules whose weights are pruned: dense and convolution layers (Brevitas'
    ``QuantLinear``/``QuantConv*`` subclass them); activations, pooling and quantizers have
    nothing to prune. Biases are never pruned (as tfmot)."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d)
    return [m for m in model.modules() if isinstance(m, kinds)]


@dataclass(frozen=True)
class PruningSchedule:
    """tfmot's ``PolynomialDecay`` (power 3): sparsity 0 until ``begin_step``, then
    ``sparsity * (1 - (1 - t)^3)`` with ``t`` the fraction of ``[begin_step, end_step]`` done,
    applied every ``frequency`` steps; ``sparsity`` from ``end_step`` on."""

    sparsity: float
    begin_step: int
    end_step: int
    frequency: int

    def target(self, step: int) -> float | None:
        """The sparsity to prune to after optimizer step ``step`` (counted from 1), or None
        when no pruning update falls on that step."""
        if step < self.begin_step or (step - self.begin_step) % self.frequency:
            return None
        done = min(1.0, (step - self.begin_step) / max(1, self.end_step - self.begin_step))
        return self.sparsity * (1.0 - (1.0 - done) ** 3)

    @classmethod
    def for_training(cls, sparsity: float, epochs: int, steps_per_epoch: int,
                     prune_fraction: float = 0.6) -> PruningSchedule:
        """The schedule :func:`models.compress.fit_compressed` uses: dense for the first
        epoch (when there are at least 4), then an update every half epoch until the target
        is reached after ``prune_fraction`` of the epochs; the rest fine-tunes at it."""
        frequency = max(1, steps_per_epoch // 2)
        begin = steps_per_epoch if epochs >= 4 else 0
        updates = max(1, (int(prune_fraction * epochs) * steps_per_epoch - begin) // frequency)
        return cls(sparsity, begin, begin + updates * frequency, frequency)


def prune_to(modules: list[nn.Module], sparsity: float) -> None:
    """Mask each module's smallest-magnitude weights until ``sparsity`` of them are zero.

    Masks only grow: a weight pruned once stays pruned (torch's ``PruningContainer`` prunes
    a count among the weights still unmasked)."""
    for module in modules:
        weight = _weight(module)
        target = int(round(sparsity * weight.numel()))
        mask = getattr(module, "weight_mask", None)
        pruned = 0 if mask is None else int((mask == 0).sum())
        if target > pruned:
            prune.l1_unstructured(module, "weight", amount=target - pruned)  # type: ignore[no-untyped-call]


def make_permanent(modules: list[nn.Module]) -> None:
    """Fold the masks into the weights (``prune.remove``): the modules hold plain weight
    parameters with zeros, which export and load_state_dict treat like any other."""
    for module in modules:
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")  # type: ignore[no-untyped-call]


def distillation_loss(student_logits: torch.Tensor, labels: torch.Tensor,
                      teacher_logits: torch.Tensor, distill: Distillation) -> torch.Tensor:
    """``alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(p_teacher || p_student)``,
    both softmaxes at temperature ``T``, averaged over the batch (Hinton et al. 2015; the
    same loss as :func:`models.compress.distillation_loss`)."""
    t = float(distill.temperature)
    hard = nn.functional.cross_entropy(student_logits, labels)
    kl = nn.functional.kl_div(nn.functional.log_softmax(student_logits / t, dim=1),
                              nn.functional.log_softmax(teacher_logits / t, dim=1),
                              reduction="batchmean", log_target=True)
    return distill.alpha * hard + (1.0 - distill.alpha) * t * t * kl


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits: torch.Tensor = model.eval()(x)
    return logits.detach()


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)  # prunable_modules: Linear and Conv layers
    return weight


def fit_compressed(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int,
                   batch_size: int = 32, learning_rate: float = 3e-3, sparsity: float = 0.0,
                   teacher: nn.Module | None = None, distill: Distillation | None = None,
                   prune_fraction: float = 0.6, seed: int = 0) -> nn.Module:
    """Train ``model`` (QAT when it is a Brevitas model) on integer labels ``y`` with Adam.

    Args:
        model: a module mapping a batch of ``x`` to logits.
        sparsity: the magnitude-pruning target of every dense/conv weight (0: dense), reached
            after ``prune_fraction`` of the epochs (:meth:`PruningSchedule.for_training`).
        teacher: a trained float module with the same output (logits): when given, the loss
            is :func:`distillation_loss` with ``distill`` (default :class:`Distillation`).
        seed: the batch order's seed (weights are initialised by the caller).

    Returns:
        ``model`` in eval mode, trained, its pruning masks folded into the weights.
    """
    sparsity = check_sparsity(sparsity)
    xs = torch.from_numpy(np.asarray(x, dtype=np.float32))
    ys = torch.from_numpy(np.asarray(y, dtype=np.int64))
    steps_per_epoch = -(-len(xs) // batch_size)
    schedule = PruningSchedule.for_training(sparsity, epochs, steps_per_epoch, prune_fraction)
    modules = prunable_modules(model) if sparsity > 0 else []
    soft = None if teacher is None else _logits(teacher, xs)
    mix = distill or Distillation()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    order = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=order)
        for start in range(0, len(xs), batch_size):
            idx = perm[start:start + batch_size]
            optimizer.zero_grad()
            logits = model(xs[idx])
            loss = (nn.functional.cross_entropy(logits, ys[idx]) if soft is None
                    else distillation_loss(logits, ys[idx], soft[idx], mix))
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            target = schedule.target(step) if modules else None
            if target:
                prune_to(modules, target)
    if modules:
        prune_to(modules, sparsity)  # fewer steps than the schedule: reach the target anyway
        make_permanent(modules)
    return model.eval()


@torch.no_grad()
def weight_sparsity(model: nn.Module) -> float:
    """The fraction of zero weights over every dense/conv layer of ``model``, after
    quantization for Brevitas layers (their integer codes, what kiln builds)."""
    zeros = total = 0
    for module in prunable_modules(model):
        quant = getattr(module, "quant_weight", None)
        weight: torch.Tensor = quant().value if callable(quant) else _weight(module)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / total if total else 0.0
