"""Plain torch.nn CNNs as kiln builds them (kiln.frontend._torch_graph and the Transpose in
kiln.frontend._lower): channels-last input without hls4ml's input transpose, PyTorch's
flatten order folded into the Dense weights, global adaptive pooling, an output LogSoftmax
dropped. kiln.fixed against the float model here; RTL == HLS C-sim == kiln.fixed in
tests/torch_e2e/test_torch_cnn.py."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from kiln.compiler import BuildOptions
from kiln.fixed import execute, from_float, to_float
from kiln.frontend import lower
from kiln.frontend._torch import convert_torch, load_torch
from kiln.frontend._torch_graph import rewrite_module

STREAM = BuildOptions(io_type="io_stream", precision="fixed<16,6>")


class FlattenNet(nn.Module):
    """2x2x8 before the flatten: PyTorch's order (channel, row, col) differs from the
    hardware's channels-last stream; a functional max pool and LogSoftmax."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.c2 = nn.Conv2d(8, 8, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x))
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


def _with_stats(model: nn.Module) -> nn.Module:
    """Batch norms with statistics and affine terms that are not the identity."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return model


def models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    return {
        "flatten": (FlattenNet(), (1, 8, 8)),
        "avg": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
                              nn.LogSoftmax(dim=1)), (1, 8, 8)),
        "max": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveMaxPool2d((1, 1)),
                              nn.Flatten(), nn.Linear(8, 10)), (1, 8, 8)),
        "avgpool": (nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                  nn.Linear(36, 10)), (1, 8, 8)),
        "batchnorm": (_with_stats(nn.Sequential(
            nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
            nn.Linear(144, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))), (1, 8, 8)),
        "conv1d": (nn.Sequential(nn.Conv1d(8, 8, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                                 nn.Linear(24, 10)), (8, 8)),
    }


def test_rewrite_keeps_values_and_drops_only_the_output_log_softmax(
        caplog: pytest.LogCaptureFixture) -> None:
    x = torch.rand(16, 1, 8, 8)
    for name, (model, shape) in models().items():
        if len(shape) != 3:
            continue
        model.eval()
        with caplog.at_level(logging.WARNING, "kiln.frontend"):
            built = rewrite_module(model, shape, "io_stream", name, warn=True)
        yaml.dump({"model": built})  # hls4ml writes its config, the module in it, as YAML
        kinds = [type(m).__name__ for m in built.modules()]
        assert not any(k.startswith("Adaptive") or k == "LogSoftmax" for k in kinds), kinds
        with torch.no_grad():
            expected, got = model(x), built(x)
        if name in ("max", "avgpool", "batchnorm"):  # nothing dropped: the same values
            assert torch.allclose(expected, got, atol=1e-6)
        else:  # logits: log_softmax(logits) is the model's output, the ranking the same
            assert torch.allclose(expected, F.log_softmax(got, dim=1), atol=1e-5)
    notes = [r.getMessage() for r in caplog.records if "LogSoftmax" in r.getMessage()]
    assert len(notes) == 2  # the flatten and avg models
    assert notes[1].startswith("avg: its output LogSoftmax '7' is not built: the hardware "
                               "outputs the logits")


@pytest.mark.parametrize("name", ["flatten", "avg", "max", "avgpool", "batchnorm", "conv1d"])
def test_plain_torch_cnn_lowers_channels_last(name: str, tmp_path: Path) -> None:
    """No Transpose is left in kiln's IR; kiln.fixed on channels-last pixels ranks like the
    float model on channels-first images (random weights, inputs over [0, 1))."""
    model, shape = models()[name]
    model.eval()
    graph = convert_torch(load_torch(model, shape), tmp_path, STREAM)
    assert [layer.class_name for layer in graph.get_layers()][:2] != ["Input", "Transpose"]
    ir = lower(graph, name, STREAM)
    assert ir.nodes[0].shape == (*shape[1:], shape[0])  # the input, channels last
    x = torch.rand(200, *shape, generator=torch.Generator().manual_seed(1))
    pixels = torch.movedim(x, 1, -1).double()
    codes = execute(ir, from_float(pixels, ir.nodes[0].out_type))["output"]
    out = to_float(codes, ir.nodes[-1].out_type).numpy()
    with torch.no_grad():
        expected = model(x).numpy()
    if name in ("flatten", "avg"):  # the hardware's outputs are the logits
        out = F.log_softmax(torch.from_numpy(out), dim=1).numpy()
    assert np.abs(out - expected).max() < 0.05
    assert (out.argmax(1) == expected.argmax(1)).mean() >= 0.97


@pytest.mark.parametrize("name", ["avg", "avgpool", "batchnorm", "flatten"])
def test_reference_is_the_model_as_built(name: str) -> None:
    """The saved (Q)ONNX reference takes channels-last pixels and gives the model's values
    (the logits where an output LogSoftmax was dropped), AveragePool and all."""
    from kiln.frontend._onnx import run_onnx
    from kiln.frontend._torch import prepare_torch

    model, shape = models()[name]
    model.eval()
    prepared = prepare_torch(load_torch(model, shape))
    x = torch.rand(8, *shape, generator=torch.Generator().manual_seed(2))
    ref = torch.from_numpy(run_onnx(prepared.model.model, torch.movedim(x, 1, -1).numpy()))
    ref = ref.float()
    with torch.no_grad():
        expected = model(x)
    got = F.log_softmax(ref, dim=1) if name in ("avg", "flatten") else ref
    assert torch.allclose(got, expected, atol=1e-5)
