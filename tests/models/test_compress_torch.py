"""Compression levers for the PyTorch/Brevitas recipes (models/compress_torch.py) and the
train(config)/data() recipe of models/digits_mlp_brevitas.py: the pruning schedule and masks,
the zeros kiln builds from a pruned recipe's QONNX export, distillation's loss against a hand
computation, and a tiny kiln.explore study over the Brevitas recipe."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from models import compress_torch
from models.compress import Distillation

pytest.importorskip("brevitas")


def test_schedule_ramps_to_the_target_and_stops() -> None:
    schedule = compress_torch.PruningSchedule.for_training(0.7, epochs=10, steps_per_epoch=8)
    assert (schedule.begin_step, schedule.end_step, schedule.frequency) == (8, 48, 4)
    targets = [(step, schedule.target(step)) for step in range(1, 81)]
    updates = [(step, t) for step, t in targets if t is not None]
    assert [step for step, _ in updates] == list(range(8, 81, 4))
    assert updates[0][1] == 0.0 and dict(updates)[48] == pytest.approx(0.7)
    ramp = [t for _, t in updates]
    assert ramp == sorted(ramp) and ramp[-1] == pytest.approx(0.7)
    assert dict(updates)[28] == pytest.approx(0.7 * (1 - 0.5 ** 3))  # halfway: cubic


def test_masks_only_grow_and_become_plain_weights() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(20, 10)
    original = layer.weight.detach().clone()
    compress_torch.prune_to([layer], 0.3)
    first = layer.weight_mask.clone()
    assert int((first == 0).sum()) == 60
    compress_torch.prune_to([layer], 0.65)
    assert bool(((layer.weight_mask == 0) | (first == 1)).all())  # every 0 stays 0
    compress_torch.make_permanent([layer])
    assert not hasattr(layer, "weight_mask") and isinstance(layer.weight, nn.Parameter)
    zero = layer.weight == 0
    assert int(zero.sum()) == 130
    # the zeros are the smallest magnitudes of the original weights
    assert original.abs()[zero].max() <= original.abs()[~zero].min()
    assert compress_torch.weight_sparsity(nn.Sequential(layer, nn.ReLU())) == 0.65


def test_distillation_loss_equals_a_hand_computation() -> None:
    student = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    teacher = [[2.0, 0.0, 1.0], [0.5, 0.5, 2.0]]
    labels = [1, 2]
    t, alpha = 2.0, 0.25

    def softmax(row: list[float], temp: float) -> list[float]:
        e = [math.exp(v / temp) for v in row]
        return [v / sum(e) for v in e]

    hard = kl = 0.0
    for s_row, t_row, label in zip(student, teacher, labels, strict=True):
        hard -= math.log(softmax(s_row, 1.0)[label])
        p, q = softmax(t_row, t), softmax(s_row, t)
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    expected = alpha * hard / 2 + (1 - alpha) * t * t * kl / 2

    loss = compress_torch.distillation_loss(
        torch.tensor(student, dtype=torch.float64), torch.tensor(labels),
        torch.tensor(teacher, dtype=torch.float64), Distillation(temperature=t, alpha=alpha))
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    # A teacher that agrees with the student leaves the hard term only.
    same = compress_torch.distillation_loss(
        torch.tensor(student, dtype=torch.float64), torch.tensor(labels),
        torch.tensor(student, dtype=torch.float64), Distillation(temperature=t, alpha=alpha))
    assert float(same) == pytest.approx(alpha * hard / 2, rel=1e-12)


def test_dense_fit_is_the_plain_training_loop() -> None:
    from models import digits_mlp_brevitas as recipe
    from models.data import digits_split

    x_tr, _, y_tr, _ = digits_split()
    torch.manual_seed(5)
    plain = recipe.train(recipe.build_model(True, (8,), 4), x_tr, y_tr, 1, seed=9)
    torch.manual_seed(5)
    levered = compress_torch.fit_compressed(recipe.build_model(True, (8,), 4), x_tr, y_tr,
                                            epochs=1, seed=9)
    for a, b in zip(plain.state_dict().values(), levered.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def _dense_weight_zeros(graph: Any) -> dict[str, float]:
    from kiln.ir import Dense

    return {n.name: float((np.asarray(n.weight) == 0).mean()) for n in graph.nodes
            if isinstance(n, Dense)}


PRUNED = {"epochs": 2, "sparsity": 0.7, "bits": 4, "hidden": (16,)}


def test_pruned_brevitas_recipe_exports_its_zeros() -> None:
    from onnx import numpy_helper

    from models import digits_mlp_brevitas as recipe

    module = recipe.train_module(PRUNED)
    assert not any(hasattr(m, "weight_mask") for m in module.modules())
    assert compress_torch.weight_sparsity(module) >= 0.7
    proto = recipe.train(PRUNED)  # the recipe's answer: the same model's QONNX export
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer
               if init.name.endswith(".weight")}
    assert set(weights) == {"fc1.weight", "logits.weight"}
    assert all((w == 0).mean() >= 0.7 for w in weights.values())
    x, y = recipe.data()
    assert x.shape == (450, 64) and y.shape == (450,)


@pytest.mark.slow
def test_pruned_brevitas_recipe_compiles_with_its_zeros(tmp_path: Path) -> None:
    import kiln
    from models import digits_mlp_brevitas as recipe

    artifact = kiln.compile(recipe.train(PRUNED), tmp_path / "pruned")
    zeros = _dense_weight_zeros(artifact.graph)
    assert len(zeros) == 2 and all(z >= 0.7 for z in zeros.values()), zeros
    x, _ = recipe.data()
    assert kiln.load(tmp_path / "pruned").predict(x[:8], device="cpu").shape == (8, 10)


def test_dense_brevitas_recipe_has_few_zeros() -> None:
    from models import digits_mlp_brevitas as recipe

    module = recipe.train_module({"epochs": 1, "bits": 6, "hidden": (8,), "seed": 3})
    assert compress_torch.weight_sparsity(module) < 0.3


def test_distilled_brevitas_recipe_trains() -> None:
    from models import digits_mlp_brevitas as recipe

    module = recipe.train_module({"epochs": 1, "hidden": (8,), "teacher_hidden": (16,),
                                  "distill": True, "seed": 3})
    x, _ = recipe.data()
    assert recipe.predict(module, x[:4]).shape == (4, 10)


def test_brevitas_cnn_recipe_prunes_and_distils() -> None:
    from onnx import numpy_helper

    from models import digits_cnn_brevitas as recipe

    config = {"epochs": 1, "sparsity": 0.5, "bits": 4, "distill": True, "seed": 2}
    module = recipe.train_module(config)
    assert compress_torch.weight_sparsity(module) >= 0.5
    assert [m.weight_quant.bit_width() for m in compress_torch.prunable_modules(module)] == [4] * 3
    x, y = recipe.data()
    assert x.shape == (450, 1, 8, 8) and y.shape == (450,)
    proto = recipe.train({**config, "io_type": "io_stream"})
    weights = [numpy_helper.to_array(i) for i in proto.graph.initializer
               if i.name.endswith(".weight")]
    assert len(weights) == 3 and all((w == 0).mean() >= 0.5 for w in weights)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_explore_over_the_brevitas_recipe(tmp_path: Path) -> None:
    import kiln

    recipe = Path(__file__).resolve().parents[2] / "models" / "digits_mlp_brevitas.py"
    study = kiln.explore(recipe, {"sparsity": [0.0, 0.7], "bits": [4], "epochs": [3],
                                  "hidden": [[16]]}, out=tmp_path / "study", workers=2)
    assert [t.status for t in study.trials] == ["ok", "ok"], [t.error for t in study.trials]
    dense, sparse = study.trials
    assert all(t.bit_exact and t.verified_samples == 300 for t in (dense, sparse))
    assert all(t.accuracy is not None and t.accuracy == t.accuracy_fixed
               for t in (dense, sparse))
    assert sparse.lut4 is not None and dense.lut4 is not None and sparse.lut4 < dense.lut4
    graph = kiln.load(sparse.artifact).graph
    assert all(z >= 0.7 for z in _dense_weight_zeros(graph).values())
