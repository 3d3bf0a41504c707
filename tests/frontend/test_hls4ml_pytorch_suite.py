"""hls4ml's PyTorch tests (test_pytorch_api.py, test_batchnorm_pytorch.py,
test_merge_pytorch.py), their models re-created and put through kiln: each builds and is
RTL == HLS C-sim == kiln.fixed and within hls4ml's tolerance of the float model, or is refused
with a KilnError naming the fix (tests/frontend/_torch_suite.py). The refusals run by
default; the cases that build are slow."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.frontend._torch_suite import Case, assert_case, randomize_batchnorm, seeded
from torch import nn
from torch.nn import functional

_IO = ("io_parallel", "io_stream")
_FLATTEN_OUT_FIX = r"flatten made by .*Fix: follow the flatten with a Linear"
_TWO_INPUTS_FIX = r"has 2 inputs\. Fix: kiln builds one-input models"


class _Functional(nn.Module):
    """Linear(1, 1) then one torch function (hls4ml's *Model classes of functionals)."""

    def __init__(self, function: str) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        if self.function == "relu":
            return functional.relu(x)
        if self.function == "softmax":
            return functional.softmax(x, dim=-1)
        if self.function == "tanh":
            return functional.tanh(x)
        if self.function == "leaky_relu":
            return functional.leaky_relu(x, negative_slope=1.0)
        if self.function == "elu":
            return functional.elu(x, alpha=1.0)
        if self.function == "threshold":
            return functional.threshold(x, threshold=1.0, value=0.0)
        return functional.sigmoid(x)


_ACTIVATIONS = {
    "Softmax": lambda: nn.Softmax(dim=-1), "ReLU": nn.ReLU, "Tanh": nn.Tanh,
    "LeakyReLU": lambda: nn.LeakyReLU(negative_slope=1.0), "ELU": lambda: nn.ELU(alpha=1.0),
    "PReLU": lambda: nn.PReLU(init=0.25), "Sigmoid": nn.Sigmoid,
    "Threshold": lambda: nn.Threshold(threshold=1.0, value=0.0),
}


class _Squeeze(nn.Module):
    """unsqueeze, Linear(5, 3) with unit weights, squeeze, relu (hls4ml's SqueezeModel)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 3, bias=False)
        self.bn = nn.BatchNorm1d(3)  # unused in forward, as in hls4ml's model
        nn.init.ones_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.unsqueeze(x, dim=1)
        x = self.linear(x)
        x = torch.squeeze(x)
        return torch.relu(x)


class _SkippedLayers(nn.Module):
    """Two Conv1d, Dropouts (skipped), Flatten, two Linear (hls4ml's ModelSkippedLayers)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(3, 6, kernel_size=3, bias=False)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(6, 5, kernel_size=3, bias=False)
        self.relu2 = nn.ReLU()
        self.dropout1 = nn.Dropout()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(5 * 4, 6, bias=False)
        self.dropout2 = nn.Dropout()
        self.fc2 = nn.Linear(6, 5, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.dropout1(self.relu2(self.conv2(x)))
        return self.fc2(self.dropout2(self.fc1(self.flatten(x))))


class _RemoveTranspose(nn.Module):
    """Conv (1 -> 4, kernel 3, no bias), ReLU, Flatten, Linear to 5, ReLU."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        conv = nn.Conv1d if rank == 2 else nn.Conv2d
        self.conv1 = conv(1, 4, kernel_size=3, bias=False)
        self.relu1 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(4 * 6 if rank == 2 else 4 * 6 * 6, 5, bias=False)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.fc1(self.flatten(self.relu1(self.conv1(x)))))


class _View(nn.Module):
    """Conv1d(2 -> 4, kernel 3, padding 1) then view(-1, 4 * 128)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 4, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x).view(-1, 4 * 128)


class _BatchNormFusion(nn.Module):
    """Conv1d(2 -> 2, kernel 3, padding 1, no bias), BatchNorm1d, ReLU (BatchNorm_w_Fusion)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 2, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(2)
        self.relu1 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu1(self.bn1(self.conv1(x)))


class _Merge(nn.Module):
    """Two inputs merged by one operation (hls4ml's MergeModule / ConcatModule)."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.op == "cat":
            return torch.cat([x, y], dim=1)
        return getattr(torch, {"sub": "subtract"}.get(self.op, self.op))(x, y)


class _OneInputMerge(nn.Module):
    """A skip connection in one model: x + relu(Linear(x)), or cat([x, relu(Linear(x))])."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.linear(x))
        return x + y if self.op == "add" else torch.cat([x, y], dim=1)


def _cases() -> list[Case]:
    cases = [Case(f"linear-{io}", seeded(lambda: nn.Sequential(nn.Linear(1, 1))), (1,), io)
             for io in _IO]
    for io in _IO:
        for name, make in _ACTIVATIONS.items():
            cases.append(Case(
                f"activation-{name}-{io}",
                seeded(lambda make=make: nn.Sequential(nn.Linear(1, 1), make())), (1,), io))
        for function in ("relu", "softmax", "tanh", "leaky_relu", "elu", "threshold",
                         "sigmoid"):
            cases.append(Case(
                f"functional-{function}-{io}", seeded(lambda f=function: _Functional(f)), (1,),
                io))
    for io in _IO:
        for pad in (0, 1):
            cases.append(Case(
                f"conv1d-pad{pad}-{io}",
                seeded(lambda pad=pad: nn.Sequential(nn.Conv1d(2, 2, 3, padding=pad),
                                                     nn.ReLU())), (2, 4), io))
            cases.append(Case(
                f"conv2d-pad{pad}-{io}",
                seeded(lambda pad=pad: nn.Sequential(nn.Conv2d(2, 2, 3, padding=pad),
                                                     nn.ReLU())), (2, 4, 4), io))
    pools = {"MaxPool1d": (nn.MaxPool1d, (2, 121)), "MaxPool2d": (nn.MaxPool2d, (2, 15, 18)),
             "AvgPool1d": (nn.AvgPool1d, (2, 121)), "AvgPool2d": (nn.AvgPool2d, (2, 15, 18))}
    for name, (pool, shape) in pools.items():
        for pad in (0, 1):
            cases.append(Case(
                f"pooling-{name}-pad{pad}",
                seeded(lambda pool=pool, pad=pad: nn.Sequential(pool(2, padding=pad))), shape,
                "io_stream", refused=r"padding=\(?1,?\)? \(use 0" if pad and "Max" in name
                else ""))
    cases.append(Case(
        "pooling-AvgPool2d-pad1-exclude-pad",
        seeded(lambda: nn.Sequential(nn.AvgPool2d(2, padding=1, count_include_pad=False))),
        (2, 15, 18), "io_stream", refused=r"padding=1 \(use 0"))
    for io in _IO:
        cases += [
            Case(f"bn-linear-relu-bn1d-{io}", seeded(lambda: randomize_batchnorm(
                nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.BatchNorm1d(8)))), (5,), io),
            Case(f"batchnorm1d-{io}", seeded(lambda: randomize_batchnorm(
                nn.Sequential(nn.BatchNorm1d(16)))), (16,), io),
            Case(f"batchnorm-fusion-conv1d-{io}",
                 seeded(lambda: randomize_batchnorm(_BatchNormFusion())), (2, 32), io),
            Case(f"squeeze-{io}", seeded(_Squeeze), (5,), io),
            Case(f"skipped-layers-{io}", seeded(_SkippedLayers), (3, 8), io),
            Case(f"view-{io}", seeded(_View), (2, 128), io,
                 refused=_FLATTEN_OUT_FIX if io == "io_stream" else ""),
        ]
    cases += [
        Case("flatten-conv2d", seeded(lambda: nn.Sequential(nn.Conv2d(1, 32, 5, 1, 1),
                                                            nn.Flatten(), nn.ReLU())),
             (1, 8, 8), "io_stream", refused=_FLATTEN_OUT_FIX),
        Case("remove-transpose-rank2", seeded(lambda: _RemoveTranspose(2)), (1, 8),
             "io_stream"),
        Case("remove-transpose-rank3", seeded(lambda: _RemoveTranspose(3)), (1, 8, 8),
             "io_stream"),
    ]
    for op in ("cat", "add", "mul", "sub", "minimum", "maximum"):
        cases.append(Case(f"merge-{op}", seeded(lambda op=op: _Merge(op)), (10,),
                          refused=_TWO_INPUTS_FIX))
    cases += [
        Case("skip-add", seeded(lambda: _OneInputMerge("add")), (8,),
             refused=r"function 'add'.*Fix: kiln builds single-path models"),
        Case("skip-concatenate", seeded(lambda: _OneInputMerge("cat")), (8,),
             refused=r"function 'cat'.*Fix: kiln builds single-path models"),
    ]
    return cases


CASES = _cases()
# Run by default: every refusal (no C simulation, a second or two each); the cases that
# build are slow (a C simulation and a Verilator build each, about 20 s).


def _params() -> list[object]:
    return [pytest.param(case, id=case.id,
                         marks=() if case.refused else (pytest.mark.slow,))
            for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_hls4ml_pytorch_case(case: Case, tmp_path: Path) -> None:
    assert_case(case, tmp_path)
