"""Data-parallel QAT (models/ddp.py): two gloo processes on 127.0.0.1 against one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from models import ddp
from models.data import digits_split

REPO = Path(__file__).resolve().parents[2]
STEPS = 12      # optimizer steps of every run
BATCH = 32      # global batch, as in the recipes

State = dict[str, torch.Tensor]


def tiny_model() -> nn.Module:
    """A tiny Brevitas model whose output for a sample depends on that sample alone (6-bit
    fixed-point weights, constant-scale input quantizer, float ReLU), so data parallelism must
    reproduce the single-process gradient up to float summation order. (The recipes' ReLU
    quantizers take their first scales from each micro-batch's statistics: not per sample.)"""
    import brevitas.nn as qnn

    from models.digits_mlp_brevitas import _quantizers

    q = _quantizers()
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=q["input"]),
        qnn.QuantLinear(64, 16, bias=True, weight_quant=q["weight"]), nn.ReLU(),
        qnn.QuantLinear(16, 10, bias=True, weight_quant=q["weight"]))


def recipe_model() -> nn.Module:
    from models.digits_mlp_brevitas import DigitsMLP

    return DigitsMLP()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _trained(build: Callable[[], nn.Module], config: ddp.TrainConfig,
             replica: ddp.Replica = ddp.SINGLE_PROCESS) -> State:
    x_tr, _, y_tr, _ = digits_split()
    return ddp.model_state(ddp.train(build, x_tr, y_tr, config, replica))


def _config(global_batch: int = BATCH, accumulation: int = 1) -> ddp.TrainConfig:
    return ddp.TrainConfig(epochs=1, global_batch=global_batch, accumulation=accumulation,
                           max_steps=STEPS)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        replica = ddp.Replica(rank, world)
        for name, build, accumulation in (("tiny", tiny_model, 2), ("recipe", recipe_model, 1),
                                          ("recipe_k2", recipe_model, 2)):
            state = _trained(build, _config(accumulation=accumulation), replica)
            torch.save(state, Path(out) / f"{name}{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, State]:
    """Each rank's final state after 2 gloo processes x 2 micro-batches x 8 samples."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return {f.stem: torch.load(f) for f in sorted(out.glob("*.pt"))}


def _distance(a: State, b: State) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_both_ranks_end_with_identical_parameters_and_buffers(
        two_processes: dict[str, State]) -> None:
    assert sorted(two_processes) == ["recipe0", "recipe1", "recipe_k20", "recipe_k21", "tiny0",
                                     "tiny1"]
    for name in ("tiny", "recipe", "recipe_k2"):
        rank0, rank1 = two_processes[f"{name}0"], two_processes[f"{name}1"]
        assert rank0.keys() == rank1.keys()
        for key in rank0:
            assert torch.equal(rank0[key], rank1[key]), f"{name}: {key} differs between ranks"


def test_two_processes_with_accumulation_equal_one_process(
        two_processes: dict[str, State]) -> None:
    single = _trained(tiny_model, _config())
    torch.manual_seed(ddp.TrainConfig(epochs=1).seed)
    initial = ddp.model_state(tiny_model())
    wrong_batch = _trained(tiny_model, _config(global_batch=BATCH // 2))
    # Measured: 3e-8 apart (summation order), while 12 steps move the weights by 3e-2 and
    # the same steps on a different global batch end 4e-2 away.
    assert _distance(two_processes["tiny0"], single) < 1e-5
    assert _distance(single, initial) > 1e-2
    assert _distance(single, wrong_batch) > 1e-2


def test_the_recipe_with_synced_statistics_equals_one_process(
        two_processes: dict[str, State]) -> None:
    """The digits MLP recipe while its ReLU quantizers still collect runtime statistics (the
    first 300 forwards): synced over the replicas, one micro-batch each, they are those of the
    single-process global batch. Measured 1.3e-7 apart; the weights move by 3e-2."""
    single = _trained(recipe_model, _config())
    assert any("scaling_impl.buffer" in key for key in single)
    assert _distance(two_processes["recipe0"], single) < 1e-5
    torch.manual_seed(ddp.TrainConfig(epochs=1).seed)
    initial = ddp.model_state(recipe_model())
    assert _distance(single, initial) > 1e-2


def test_only_a_maximum_statistic_is_synced() -> None:
    from brevitas.core.stats.stats_op import AbsAve, AbsMax, AbsPercentile

    assert ddp.is_max_statistic(AbsPercentile(99.999, None), 2 * 32 * 32)
    assert not ddp.is_max_statistic(AbsPercentile(99.999, None), 100_000)
    assert not ddp.is_max_statistic(AbsPercentile(99.0, None), 1024)
    assert ddp.is_max_statistic(AbsMax(), 7)
    assert not ddp.is_max_statistic(AbsAve(), 7)


@pytest.mark.parametrize("world,accumulation", [(1, 1), (2, 1), (2, 2), (4, 2)])
def test_every_global_step_holds_the_single_process_batch(world: int, accumulation: int
                                                           ) -> None:
    n, config = 203, ddp.TrainConfig(epochs=1, global_batch=16, accumulation=accumulation)
    one = ddp.TrainConfig(epochs=1, global_batch=16)
    single = list(ddp.replica_batches(n, one, ddp.Replica(), epoch=3))
    shares = [list(ddp.replica_batches(n, config, ddp.Replica(r, world), epoch=3))
              for r in range(world)]
    assert len(single) == n // 16 and all(len(s) == len(single) for s in shares)
    for step, (batch,) in enumerate(single):
        micros = [m for share in shares for m in share[step]]
        assert len(micros) == world * accumulation
        assert all(len(m) == 16 // (world * accumulation) for m in micros)
        assert sorted(i for m in micros for i in m) == sorted(batch)
    epochs = [sorted(i for (b,) in ddp.replica_batches(n, one, ddp.Replica(), epoch=e) for i in b)
              for e in (0, 1)]
    assert epochs[0] != epochs[1]  # set_epoch: each epoch leaves out different samples


def test_a_global_batch_that_does_not_split_is_refused() -> None:
    with pytest.raises(ddp.DataParallelError, match="divisible by 6"):
        ddp.micro_batch(ddp.TrainConfig(epochs=1, global_batch=32, accumulation=3), world=2)


def test_an_unknown_recipe_names_the_choices() -> None:
    with pytest.raises(ddp.DataParallelError, match="digits_cnn_brevitas"):
        ddp.recipe("digits_mlp")


@pytest.mark.slow
def test_torchrun_two_processes_save_the_recipe_format(tmp_path: Path) -> None:
    """The entry point under torchrun: rank 0 saves a state_dict the recipe's loader reads."""
    from models.digits_mlp_brevitas import load_model

    torchrun = Path(sys.executable).with_name("torchrun")
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "models.ddp",
                    "--recipe", "digits_mlp_brevitas", "--epochs", "1", "--max-steps", "6",
                    "--accumulation", "2", "--no-onnx", "--out", str(tmp_path)],
                   cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True,
                   capture_output=True, timeout=300)
    metrics = json.loads((tmp_path / "digits_mlp_brevitas.metrics.json").read_text())
    assert (metrics["world_size"], metrics["accumulation"], metrics["micro_batch"]) == (2, 2, 8)
    _, x_te, _, y_te = digits_split()
    assert ddp.accuracy(load_model(tmp_path / "digits_mlp_brevitas.pt"), x_te, y_te) == \
        metrics["quantized_accuracy"]
