"""hls4ml's Brevitas tests (test_brevitas_parsing.py), their models re-created, plus merge and
BatchNorm cases in their style, put through kiln: each builds and is RTL == HLS C-sim ==
kiln.fixed and equal to Brevitas where its power-of-two quantizers define every type (else
within hls4ml's tolerance of the model), or is refused with a KilnError naming the fix
(tests/frontend/_torch_suite.py). The refusals and one bit-exact MLP run by default; the other
cases that build are slow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.frontend._torch_suite import Case, assert_case, randomize_batchnorm, seeded
from torch import nn

qnn = pytest.importorskip("brevitas.nn")

_IO = ("io_parallel", "io_stream")
_SKIP_FIX = r"QuantEltwiseAdd\).*Fix: kiln builds single-path models: remove the skip"


def _quant() -> dict[str, Any]:
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
    )

    return {"act": Int8ActPerTensorFixedPoint, "weight": Int8WeightPerTensorFixedPoint,
            "bias": Int8BiasPerTensorFixedPointInternalScaling}


class _QuantLinear(nn.Module):
    """QuantLinear(4, 4, no bias) with fixed-point weight and input quantizers, QuantReLU
    (hls4ml's QuantModelLinear)."""

    def __init__(self) -> None:
        super().__init__()
        q = _quant()
        self.lin1 = qnn.QuantLinear(4, 4, bias=False, weight_quant=q["weight"],
                                    input_quant=q["act"])
        self.relu1 = qnn.QuantReLU(act_quant=q["act"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu1(self.lin1(x))  # type: ignore[no-any-return]


class _QuantConv(nn.Module):
    """QuantConv1d(3 -> 6, kernel 4) or QuantConv2d(3 -> 6, kernel 5), float bias, ReLU
    (hls4ml's QuantModelConv1d / QuantModelConv2d: no input quantizer)."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        conv = qnn.QuantConv1d if rank == 1 else qnn.QuantConv2d
        self.conv1 = conv(3, 6, 4 if rank == 1 else 5, bias=True,
                          weight_quant=_quant()["weight"])
        self.relu1 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu1(self.conv1(x))  # type: ignore[no-any-return]


class _Upsample(nn.Module):
    """QuantIdentity, QuantUpsample (1D, factor 2) or QuantUpsamplingNearest2d, ReLU."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.identity = qnn.QuantIdentity(act_quant=_quant()["act"], return_quant_tensor=True)
        self.upsample = (qnn.QuantUpsample(scale_factor=2) if rank == 1 else
                         qnn.QuantUpsamplingNearest2d(scale_factor=(1, 2)))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.upsample(self.identity(x)))  # type: ignore[no-any-return]


class _EltwiseAdd(nn.Module):
    """QuantEltwiseAdd of two inputs (hls4ml's QuantEltwiseAddModel)."""

    def __init__(self) -> None:
        super().__init__()
        q = _quant()
        self.add = qnn.QuantEltwiseAdd(input_quant=q["act"], output_quant=q["act"])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.add(x, y)  # type: ignore[no-any-return]


class _QuantMlp(nn.Module):
    """Every tensor quantized: QuantIdentity, QuantLinear (weight and bias), QuantReLU,
    QuantLinear; ``bn``: a BatchNorm1d after the first QuantLinear; ``skip``: the input
    added back (QuantEltwiseAdd) before the last layer."""

    def __init__(self, bn: bool = False, skip: bool = False) -> None:
        super().__init__()
        q = _quant()
        layer = {"weight_quant": q["weight"], "bias_quant": q["bias"],
                 "return_quant_tensor": True}
        self.inp = qnn.QuantIdentity(act_quant=q["act"], return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(8, 8, **layer)
        self.bn = nn.BatchNorm1d(8) if bn else nn.Identity()
        self.relu = qnn.QuantReLU(act_quant=q["act"], return_quant_tensor=True)
        self.add = qnn.QuantEltwiseAdd(input_quant=q["act"], output_quant=q["act"],
                                       return_quant_tensor=True) if skip else None
        self.fc2 = qnn.QuantLinear(8, 4, **layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        y = self.relu(self.bn(self.fc1(x)))
        if self.add is not None:
            y = self.add(x, y)
        return self.fc2(y)  # type: ignore[no-any-return]


class _QuantActivation(nn.Module):
    """QuantIdentity, QuantLinear(8 -> 4) with fixed-point weight and bias, one Brevitas
    activation: QuantHardTanh (FINN's usual), QuantTanh or QuantSigmoid (its default
    quantizer, or a fixed-point one)."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        q = _quant()
        self.inp = qnn.QuantIdentity(act_quant=q["act"], return_quant_tensor=True)
        self.fc = qnn.QuantLinear(8, 4, weight_quant=q["weight"], bias_quant=q["bias"],
                                  return_quant_tensor=True)
        if activation == "hardtanh":
            self.act = qnn.QuantHardTanh(act_quant=q["act"], min_val=-1.0, max_val=1.0)
        elif activation == "sigmoid-fixed-point":
            from brevitas.quant import Uint8ActPerTensorFixedPoint

            self.act = qnn.QuantSigmoid(act_quant=Uint8ActPerTensorFixedPoint)
        else:  # Brevitas's default quantizer
            self.act = getattr(qnn, activation)()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.inp(x)))  # type: ignore[no-any-return]


class _QuantConcat(nn.Module):
    """QuantIdentity, QuantLinear(8 -> 4), then torch.cat of its output and the input."""

    def __init__(self) -> None:
        super().__init__()
        q = _quant()
        self.inp = qnn.QuantIdentity(act_quant=q["act"])
        self.fc = qnn.QuantLinear(8, 4, weight_quant=q["weight"], bias_quant=q["bias"],
                                  input_quant=q["act"], output_quant=q["act"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        return torch.cat([x, self.fc(x)], dim=1)


class _QuantCnn(nn.Module):
    """QuantIdentity, QuantConv2d (2 -> 4, kernel 3), optional BatchNorm2d, QuantReLU,
    MaxPool2d(2), Flatten, QuantLinear to 3: every tensor quantized."""

    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        q = _quant()
        layer = {"weight_quant": q["weight"], "bias_quant": q["bias"],
                 "return_quant_tensor": True}
        self.inp = qnn.QuantIdentity(act_quant=q["act"], return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(2, 4, 3, **layer)
        self.bn = nn.BatchNorm2d(4) if bn else nn.Identity()
        self.relu = qnn.QuantReLU(act_quant=q["act"], return_quant_tensor=True)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = qnn.QuantLinear(4 * 3 * 3, 3, **layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.conv(self.inp(x))))
        return self.fc(self.flatten(self.pool(x)))  # type: ignore[no-any-return]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for io in _IO:
        cases += [
            Case(f"quantlinear-{io}", seeded(_QuantLinear), (4,), io, precision=None,
                 x_range=(0.0, 1.0)),
            Case(f"quantconv1d-{io}", seeded(lambda: _QuantConv(1)), (3, 16), io),
            Case(f"quantconv2d-{io}", seeded(lambda: _QuantConv(2)), (3, 12, 12), io),
            Case(f"quanteltwiseadd-{io}", seeded(_EltwiseAdd), (4, 4), io, precision=None,
                 refused=_SKIP_FIX),
            Case(f"quant-mlp-{io}", seeded(_QuantMlp), (8,), io, precision=None),
            Case(f"quant-mlp-batchnorm1d-{io}",
                 seeded(lambda: randomize_batchnorm(_QuantMlp(bn=True))), (8,), io),
            Case(f"quant-mlp-skip-add-{io}", seeded(lambda: _QuantMlp(skip=True)), (8,), io,
                 precision=None, refused=_SKIP_FIX),
        ]
    cases += [
        Case("quantupsample1d", seeded(lambda: _Upsample(1)), (3, 8), precision=None,
             refused=r"QuantUpsample.*Fix"),
        Case("quantupsample2d", seeded(lambda: _Upsample(2)), (3, 4, 4), precision=None,
             refused=r"QuantUpsamplingNearest2d.*Fix"),
        Case("quant-cnn", seeded(_QuantCnn), (2, 8, 8), "io_stream", precision=None),
        Case("quant-concatenate", seeded(_QuantConcat), (8,), precision=None,
             refused=r"\(Concat\) is a concatenation .*Fix: remove the branch"),
        Case("quanthardtanh", seeded(lambda: _QuantActivation("hardtanh")), (8,),
             precision=None),
        Case("quanttanh", seeded(lambda: _QuantActivation("QuantTanh")), (8,),
             precision=None),
        Case("quantsigmoid-default-quantizer", seeded(lambda: _QuantActivation("QuantSigmoid")),
             (8,), precision=None, refused=r"'act' \(QuantSigmoid\) act_quant "
             r"Uint8ActPerTensorFloat: scale .* not a power of two.* Use "
             r"Uint8ActPerTensorFixedPoint"),
        Case("quantsigmoid", seeded(lambda: _QuantActivation("sigmoid-fixed-point")), (8,),
             precision=None),
        Case("quant-cnn-batchnorm2d", seeded(lambda: randomize_batchnorm(_QuantCnn(bn=True))),
             (2, 8, 8), "io_stream"),
        Case("quant-mlp-batchnorm1d-no-precision",
             seeded(lambda: randomize_batchnorm(_QuantMlp(bn=True))), (8,), precision=None,
             refused=r"float parameters \(scale of layer 'bn'.*pass precision='fixed<16,6>'"),
    ]
    return cases


CASES = _cases()
# Run by default: every refusal (a second or two each) and one Brevitas MLP that builds,
# bit-exact (its last layer returns a QuantTensor); the other cases that build are slow.
DEFAULT = ("quant-mlp-io_parallel",)


def _params() -> list[object]:
    return [pytest.param(case, id=case.id,
                         marks=() if case.refused or case.id in DEFAULT else
                         (pytest.mark.slow,))
            for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_hls4ml_brevitas_case(case: Case, tmp_path: Path) -> None:
    assert_case(case, tmp_path)
