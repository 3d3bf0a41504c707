"""The one check of a PyTorch model (kiln.frontend._torch_check, _torch_graph): every module and
function kiln cannot build is listed at once, with its path, type and fix, before any ONNX
export or hls4ml conversion."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kiln
from kiln.compiler import BuildOptions
from kiln.errors import InputShapeError, KilnError, UnsupportedLayerError
from kiln.frontend._torch import check_source, convert_torch, load_torch, prepare_torch

FLOAT = BuildOptions(precision="fixed<16,6>")


class Mixed(nn.Module):
    """Four problems at once: two modules, one nested module, one skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.act = nn.SELU()
        self.norm = nn.LayerNorm(8)
        self.block = nn.Sequential(nn.Linear(8, 8), nn.Hardtanh())
        self.out = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(self.norm(self.act(self.fc1(x))))
        return self.out(y + x)


def test_every_unsupported_module_and_function_in_one_error(tmp_path: Path) -> None:
    source = load_torch(Mixed(), (8,))
    for call in (lambda: convert_torch(source, tmp_path / "hls", FLOAT),
                 lambda: prepare_torch(source),  # the ONNX export is not reached either
                 lambda: kiln.compile(Mixed(), tmp_path / "art", input_shape=(8,),
                                      precision="fixed<16,6>")):
        with pytest.raises(UnsupportedLayerError) as info:
            call()
        message = str(info.value)
        assert "4 module(s) or function(s) kiln cannot build" in message
        for line in ("module 'act' (SELU): not built by kiln. Fix: replace it with nn.ReLU",
                     "module 'norm' (LayerNorm): not built by kiln. Fix: remove it",
                     "module 'block.1' (Hardtanh): not built by kiln. Fix: replace it with "
                     "nn.Tanh",
                     "function 'add' (node 'add' in forward()): not built by kiln. Fix: kiln "
                     "builds single-path models: remove the skip connection"):
            assert f"  - {line}" in message
        assert "\nkiln builds Linear, ReLU" in message
    assert not (tmp_path / "hls").exists() and not (tmp_path / "art").exists()


def test_torch_quantized_modules_are_refused_by_name(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    with pytest.raises(UnsupportedLayerError) as info:
        kiln.compile(dynamic, tmp_path / "q", input_shape=(4,), precision="fixed<16,6>")
    message = str(info.value)
    assert "2 module(s)" in message
    assert "module '0' (Linear) is torch-quantized. Fix: " in message
    assert "module '2' (Linear) is torch-quantized" in message
    assert "quantize_dynamic" in message and "Brevitas" in message


def test_hard_activations_name_their_fix() -> None:
    class Hard(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.gate = nn.Hardsigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gate(F.hardtanh(self.fc(x)))

    with pytest.raises(UnsupportedLayerError) as info:
        check_source(load_torch(Hard(), (4,)), "io_parallel")
    message = str(info.value)
    assert "module 'gate' (Hardsigmoid): not built by kiln. Fix: replace it with nn.Sigmoid" \
        in message
    assert "function 'hardtanh' (node 'hardtanh' in forward()): not built by kiln. Fix: " \
           "replace it with torch.tanh" in message


def test_log_softmax_and_adaptive_pooling_only_where_kiln_builds_them() -> None:
    class Middle(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.pool = nn.AdaptiveAvgPool2d(2)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.adaptive_max_pool2d(self.pool(self.conv(x)), (2, 1))
            return self.fc(F.log_softmax(y.flatten(1), dim=1))

    with pytest.raises(UnsupportedLayerError) as info:
        check_source(load_torch(Middle(), (1, 8, 8)), "io_stream")
    message = str(info.value)
    assert "3 module(s)" in message
    assert "module 'pool' (AdaptiveAvgPool2d): output_size=2: kiln builds adaptive pooling " \
           "to one value per channel only (global pooling). Fix: output_size=1" in message
    assert "function 'adaptive_max_pool2d' in forward(): output_size=(2, 1)" in message
    assert "LogSoftmax node 'log_softmax' in forward() feeds further layers" in message
    # io_parallel builds the convolution and pooling too: the same three problems.
    with pytest.raises(UnsupportedLayerError, match=r"3 module\(s\)"):
        check_source(load_torch(Middle(), (1, 8, 8)), "io_parallel")


def test_conv_settings_and_dynamic_shapes() -> None:
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4, dilation=2), nn.Flatten(),
                            nn.Linear(16, 2))
    with pytest.raises(UnsupportedLayerError, match=r"module '0' \(Conv2d\): dilation=\(2, 2\) "
                       r"\(use 1\); groups=4 \(grouped and depthwise"):
        check_source(load_torch(grouped, (4, 8, 8)), "io_stream")

    class Flat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.view(x.size(0), -1))

    with pytest.raises(InputShapeError, match=r"node 'size' .*dynamic shape.*Fix: use constant"):
        check_source(load_torch(Flat(), (8, 8)), "io_parallel")

    class FlatGelu(Flat):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.gelu(self.fc(x.view(x.size(0), -1)))

    # With other problems, the run-time shape is one line of the one error.
    with pytest.raises(KilnError, match=r"2 module\(s\)(?s:.*)'gelu'(?s:.*)node 'size'"):
        check_source(load_torch(FlatGelu(), (8, 8)), "io_parallel")


def test_brevitas_models_refuse_what_only_plain_torch_builds() -> None:
    import brevitas.nn as qnn

    model = nn.Sequential(qnn.QuantIdentity(), nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), qnn.QuantLinear(4, 2), nn.LogSoftmax(dim=1))
    with pytest.raises(UnsupportedLayerError) as info:
        check_source(load_torch(model, (1, 8, 8)), "io_stream")
    message = str(info.value)
    assert "2 module(s)" in message
    assert "module '2' (AdaptiveAvgPool2d): built in plain torch.nn models only, not in " \
           "Brevitas (QONNX) ones. Fix: use nn.MaxPool1d/2d" in message
    assert "module '5' (LogSoftmax): built in plain torch.nn models only" in message


def test_a_plain_model_that_does_not_run_on_its_input_shape(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(InputShapeError, match=r"does not run on input_shape=\(2, 8\) "
                       r"\(RuntimeError: .*\)\. Give the shape forward\(\) expects"):
        convert_torch(load_torch(model, (2, 8)), tmp_path, BuildOptions(
            io_type="io_stream", precision="fixed<8,3>"))
