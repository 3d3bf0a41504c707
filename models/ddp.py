"""Data-parallel QAT for the Brevitas recipes: torch DistributedDataParallel over gloo (CPU).

One process per replica; torchrun starts them and sets RANK / WORLD_SIZE / MASTER_ADDR::

    torchrun --nproc_per_node 2 -m models.ddp --recipe digits_mlp_brevitas --accumulation 2
    python -m models.ddp --recipe digits_cnn_brevitas          # one process, no torchrun
    # several nodes: the same command on every node
    torchrun --nnodes 2 --nproc_per_node 2 --rdzv-backend c10d --rdzv-id kiln-qat \\
        --rdzv-endpoint HOST0:29400 -m models.ddp --recipe digits_cnn_brevitas

Every optimizer step consumes one *global batch* (``--global-batch``, 32 as in the recipes'
own ``train``) whatever the number of processes: each of the W replicas takes W-th of it in
K micro-batches (``--accumulation K``) and accumulates their gradients under
``model.no_sync()``; the last backward all-reduces (DDP averages over the replicas). The
samples come from a seeded ``DistributedSampler`` (``set_epoch`` every epoch), whose
rank-strided split puts exactly the single-process batch's samples into each global step, so
a run on W processes computes the single-process gradient up to float summation order.
Brevitas' runtime-statistics scales (the ReLU quantizers' first 300 forwards) are synced over
the replicas, as SyncBatchNorm does: exact with K = 1; with K > 1 each statistic covers one
micro-batch per replica (docs/codesign.md, "Data-parallel QAT"). Each epoch drops its
last incomplete global batch (1347 = 42 x 32 + 3 digits samples: 3 left out, different ones
each epoch), so no replica ever gets a padded duplicate.

Rank 0 evaluates the quantized model on the test split and writes, into ``--out`` (default
``build/ddp/<recipe>_w<W>_k<K>``), each file atomically: ``<recipe>.pt`` (the state_dict the
recipe's ``load_model(path)`` reads), ``<recipe>.onnx`` (QONNX, for ``kiln compile``) and
``<recipe>.metrics.json``. Every rank logs its progress; before saving, every replica's
parameters and buffers are checked to be identical to rank 0's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import NDArray
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler, TensorDataset

from kiln.errors import KilnError

log = logging.getLogger("models.ddp")

Array = NDArray[Any]
Split = tuple[Array, Array, Array, Array]  # x_train, x_test, y_train, y_test


class DataParallelError(KilnError):
    """A data-parallel run that is misconfigured, or whose replicas diverged."""


@dataclass(frozen=True)
class Recipe:
    """What data-parallel training needs from a Brevitas recipe module."""

    name: str
    build: Callable[[], nn.Module]          # the untrained QAT model
    data: Callable[[], Split]               # the recipe's split, in its input layout
    load: Callable[[Path], nn.Module]       # rebuild from a saved state_dict
    input_shape: tuple[int, ...]            # one sample, for the QONNX export
    epochs: int


def _digits_mlp() -> Recipe:
    from models import digits_mlp_brevitas as r
    from models.data import digits_split

    return Recipe(r.__name__.rsplit(".", 1)[1], r.DigitsMLP, digits_split, r.load_model,
                  (64,), r.EPOCHS)


def _cnn_split() -> Split:
    from models.data import digits_split
    from models.digits_cnn_brevitas import images

    x_tr, x_te, y_tr, y_te = digits_split()
    return images(x_tr), images(x_te), y_tr, y_te


def _digits_cnn() -> Recipe:
    from models import digits_cnn_brevitas as r

    return Recipe(r.__name__.rsplit(".", 1)[1], r.DigitsCNN, _cnn_split, r.load_model,
                  r.INPUT_SHAPE, r.EPOCHS)


RECIPES: dict[str, Callable[[], Recipe]] = {
    "digits_mlp_brevitas": _digits_mlp,
    "digits_cnn_brevitas": _digits_cnn,
}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise DataParallelError(f"no Brevitas recipe {name!r} for data-parallel training; "
                                f"choose one of {sorted(RECIPES)}")
    return RECIPES[name]()


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation, identical on every replica. ``global_batch`` is the number of samples
    per optimizer step over all replicas together; ``accumulation`` micro-batches per replica
    make it up, so ``global_batch`` must be divisible by ``world * accumulation``."""

    epochs: int
    global_batch: int = 32
    accumulation: int = 1
    learning_rate: float = 3e-3
    seed: int = 1234
    max_steps: int | None = None    # stop after this many optimizer steps (tests)


@dataclass(frozen=True)
class Replica:
    """Where this process sits: its global rank among ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1


SINGLE_PROCESS = Replica()


def replica_from_env() -> Replica:
    """This process's place as torchrun sets it (RANK, WORLD_SIZE; MASTER_ADDR/PORT for the
    rendezvous), joining the gloo process group; a plain ``python -m`` run is one replica."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    replica = Replica(int(os.environ.get("RANK", "0")), world)
    if replica.distributed and not dist.is_initialized():
        dist.init_process_group("gloo")
    return replica


def micro_batch(config: TrainConfig, world: int) -> int:
    """Samples per micro-batch on each replica."""
    share = world * config.accumulation
    if config.global_batch % share:
        raise DataParallelError(
            f"global batch {config.global_batch} does not split into {world} processes x "
            f"{config.accumulation} micro-batches; pass a --global-batch divisible by {share} "
            f"(or change --accumulation)")
    return config.global_batch // share


def replica_batches(n_samples: int, config: TrainConfig, replica: Replica, epoch: int
                    ) -> Iterator[list[list[int]]]:
    """This replica's share of each global step of ``epoch``: a list of ``accumulation``
    micro-batches of sample indices. Over the replicas, step ``s`` holds exactly positions
    ``s * global_batch ...`` of the epoch's seeded permutation, whatever ``world`` is."""
    micro = micro_batch(config, replica.world)
    sampler: DistributedSampler[Any] = DistributedSampler(
        TensorDataset(torch.zeros(n_samples)), num_replicas=replica.world, rank=replica.rank,
        shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch)
    mine = list(sampler)  # positions rank, rank + world, ... of the permutation
    per_step = micro * config.accumulation
    for step in range(n_samples // config.global_batch):  # full global batches only
        chunk = mine[step * per_step:(step + 1) * per_step]
        yield [chunk[k * micro:(k + 1) * micro] for k in range(config.accumulation)]


def is_max_statistic(stats_op: nn.Module, n_values: int) -> bool:
    """Whether Brevitas' statistic over ``n_values`` is their maximum magnitude: ``AbsMax``, or
    ``AbsPercentile`` whose rank ``floor(q/100 * n + 0.5)`` is the top one (the recipes' 99.999th
    percentile over fewer than 50,000 values)."""
    from brevitas.core.stats.stats_op import AbsMax, AbsPercentile

    if isinstance(stats_op, AbsMax):
        return stats_op.stats_reduce_dim is None
    if isinstance(stats_op, AbsPercentile) and stats_op.stats_reduce_dim is None:
        return int(math.floor(0.01 * stats_op.q * n_values + 0.5)) == n_values
    return False


class _SumOverReplicas(torch.autograd.Function):
    """All-reduce (sum) whose backward sums the replicas' gradients the same way."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        total = grads[0].clone()
        dist.all_reduce(total)
        return total


def _global_max(local: torch.Tensor, replica: Replica) -> torch.Tensor:
    """The maximum of ``local`` over the replicas, as a differentiable sum in which only the
    lowest rank that holds it contributes: its gradient then collects every replica's, as the
    one maximal element of a single-process batch does."""
    with torch.no_grad():
        top = local.detach().clone()
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
        owner = torch.where(local.detach() == top, replica.rank, replica.world)
        dist.all_reduce(owner, op=dist.ReduceOp.MIN)
    mine = torch.where(owner == replica.rank, local, torch.zeros_like(local))
    return _SumOverReplicas.apply(mine)  # type: ignore[no-any-return,no-untyped-call]


def sync_runtime_statistics(model: nn.Module, replica: Replica) -> int:
    """Make Brevitas' runtime-statistics scales (``ParameterFromRuntimeStatsScaling``: the
    ReLU quantizers' first ``collect_stats_steps`` training forwards) see every replica's
    micro-batch, as SyncBatchNorm does for batch norm: with one micro-batch per replica the
    scales are then those of the single-process global batch. Returns how many were synced.

    Raises:
        DataParallelError: a statistic other than the maximum, which a max-reduction cannot
            reproduce.
    """
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

    def hook(stats: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
             ) -> torch.Tensor:
        n = inputs[0].numel() * replica.world  # one micro-batch from every replica
        stats_op = cast(nn.Module, stats.stats_impl)
        if not is_max_statistic(stats_op, n):
            raise DataParallelError(
                f"{type(stats_op).__name__} over {n} values is not their maximum, "
                f"so the replicas' runtime statistics cannot be combined exactly; give the "
                f"activation quantizer a max statistic (AbsMax) to train it data-parallel")
        return _global_max(output, replica)

    synced = 0
    for module in model.modules():
        if isinstance(module, ParameterFromRuntimeStatsScaling):
            module.stats.register_forward_hook(hook)
            synced += 1
    return synced


def train(build: Callable[[], nn.Module], x: Array, y: Array, config: TrainConfig,
          replica: Replica = SINGLE_PROCESS) -> nn.Module:
    """QAT of ``build()`` on ``(x, y)``, data-parallel over the process group when
    ``replica.world > 1`` (which must be initialised). Returns the plain (unwrapped) model in
    eval mode, identical on every replica."""
    torch.manual_seed(config.seed)   # same initial weights everywhere (DDP broadcasts rank 0's)
    model = build()
    net: nn.Module = model
    if replica.distributed:
        sync_runtime_statistics(model, replica)
        net = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    xs, ys = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)
    tag = f"[rank {replica.rank}/{replica.world}]"
    steps, start = 0, time.monotonic()
    model.train()
    for epoch in range(config.epochs):
        loss_sum, seen = 0.0, 0
        for micros in replica_batches(len(xs), config, replica, epoch):
            optimizer.zero_grad()
            for k, idx in enumerate(micros):
                # Only the last micro-batch's backward all-reduces the accumulated gradient.
                last = k == len(micros) - 1
                sync = contextlib.nullcontext() if last or not replica.distributed \
                    else net.no_sync()  # type: ignore[operator]
                with sync:
                    loss = nn.functional.cross_entropy(net(xs[idx]), ys[idx])
                    (loss / len(micros)).backward()  # type: ignore[no-untyped-call]
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
            optimizer.step()
            steps += 1
            if config.max_steps is not None and steps >= config.max_steps:
                break
        log.info("%s epoch %d/%d: loss %.4f over %d local samples, %.1f s", tag, epoch + 1,
                 config.epochs, loss_sum / max(seen, 1), seen, time.monotonic() - start)
        if config.max_steps is not None and steps >= config.max_steps:
            break
    return model.eval()


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (Brevitas' state_dict hides its statistics buffers)."""
    return {**{f"param:{k}": v.detach() for k, v in model.named_parameters()},
            **{f"buffer:{k}": v.detach() for k, v in model.named_buffers()}}


def check_replicas(model: nn.Module, replica: Replica) -> None:
    """Raise unless every replica holds exactly rank 0's parameters and buffers."""
    if not replica.distributed:
        return
    for name, tensor in model_state(model).items():
        reference = tensor.clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(reference, tensor):
            raise DataParallelError(
                f"rank {replica.rank}'s {name} differs from rank 0's after training (max "
                f"{float((reference - tensor).abs().max()):.3g}): the replicas diverged; every "
                f"process must run the same code, config and seed")


def accuracy(model: nn.Module, x: Array, y: Array) -> float:
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(np.ascontiguousarray(x)))
    return float((logits.argmax(dim=1).numpy() == y).mean())


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only when the block succeeds, so a
    reader never sees a half-written model."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(model: nn.Module, r: Recipe, x_test: Array, metrics: dict[str, Any], out: Path,
         onnx: bool = True) -> None:
    """The recipe's usual files in ``out``, each written atomically; the saved state_dict is
    checked to reload (through the recipe's ``load_model``) to the same predictions."""
    out.mkdir(parents=True, exist_ok=True)
    with _atomic_path(out / f"{r.name}.pt") as tmp:
        torch.save(model.state_dict(), tmp)
        with torch.no_grad():
            x = torch.from_numpy(x_test)
            same = torch.equal(r.load(tmp)(x), model.eval()(x))
        if not same:
            raise DataParallelError(f"the saved {r.name} state does not reproduce the trained "
                                    f"model; nothing was written to {out}")
    if onnx:
        from brevitas.export import export_qonnx

        with _atomic_path(out / f"{r.name}.onnx") as tmp:
            export_qonnx(model, torch.zeros(1, *r.input_shape), export_path=str(tmp),
                         dynamo=False)
    with _atomic_path(out / f"{r.name}.metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")


def run(recipe_name: str, config: TrainConfig, out: Path | None, replica: Replica,
        onnx: bool = True) -> dict[str, Any] | None:
    """Train the recipe data-parallel; rank 0 evaluates, saves and returns the metrics."""
    r = recipe(recipe_name)
    x_tr, x_te, y_tr, y_te = r.data()
    micro = micro_batch(config, replica.world)
    log.info("[rank %d/%d] %s: %d epochs, global batch %d = %d processes x %d micro-batches "
             "x %d", replica.rank, replica.world, r.name, config.epochs, config.global_batch,
             replica.world, config.accumulation, micro)
    start = time.monotonic()
    model = train(r.build, x_tr, y_tr, config, replica)
    train_s = time.monotonic() - start
    check_replicas(model, replica)
    metrics = None
    if replica.rank == 0:
        out = out or Path("build/ddp") / f"{r.name}_w{replica.world}_k{config.accumulation}"
        metrics = {
            "model": r.name, "framework": "brevitas", "world_size": replica.world,
            "nodes": replica.world // int(os.environ.get("LOCAL_WORLD_SIZE", replica.world)),
            "micro_batch": micro, **asdict(config), "test_samples": int(len(y_te)),
            "quantized_accuracy": accuracy(model, x_te, y_te),
            "train_seconds": round(train_s, 1), "torch_threads": torch.get_num_threads(),
        }
        save(model, r, x_te, metrics, out, onnx=onnx)
        log.info("[rank 0] quantized test accuracy %.4f, trained in %.1f s; saved to %s",
                 metrics["quantized_accuracy"], train_s, out)
    if replica.distributed:
        dist.barrier()  # no replica exits (and tears down the group) before rank 0 has saved
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.ddp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="digits_mlp_brevitas", choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--global-batch", type=int, default=32,
                        help="samples per optimizer step over all processes (default 32)")
    parser.add_argument("--accumulation", type=int, default=1,
                        help="micro-batches per process per step (default 1)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", type=Path, help="default build/ddp/<recipe>_w<W>_k<K>")
    parser.add_argument("--no-onnx", action="store_true", help="skip the QONNX export")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    replica = replica_from_env()
    try:
        config = TrainConfig(epochs=args.epochs or recipe(args.recipe).epochs,
                             global_batch=args.global_batch, accumulation=args.accumulation,
                             learning_rate=args.lr, seed=args.seed, max_steps=args.max_steps)
        metrics = run(args.recipe, config, args.out, replica, onnx=not args.no_onnx)
        if metrics is not None:
            print(json.dumps(metrics, indent=2))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
