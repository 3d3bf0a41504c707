"""Plain torch.nn CNNs (float, channels-first input) compiled with io_stream and verified:
RTL == HLS C-sim == kiln.fixed on 300 digits test images, Icarus and the protocol bench
agreeing, and argmax agreement with the float model. Covers PyTorch's flatten order (a 2x2
image flattened), global adaptive average and max pooling, AvgPool2d, Conv1d and an output
LogSoftmax (built as its logits), BatchNorm1d/2d (folded into the layer before, on the input a
per-channel scale and shift)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kiln

pytestmark = [pytest.mark.slow, pytest.mark.verilator]


class LeNetLike(nn.Module):
    """Conv, relu, max_pool2d, conv, relu, flatten of a 2x2x8 image, Linear, log_softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.c2 = nn.Conv2d(8, 8, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x))
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


def _models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    from models.digits_cnn_brevitas import build_model

    torch.manual_seed(0)
    return {
        "digits_cnn_float": (build_model(quantized=False), (1, 8, 8)),
        "lenet_like": (LeNetLike(), (1, 8, 8)),
        "global_avg": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3),
                                     nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 10), nn.LogSoftmax(dim=1)), (1, 8, 8)),
        "global_max": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3),
                                     nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 10)), (1, 8, 8)),
        "avgpool": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                  nn.Linear(72, 10)), (1, 8, 8)),
        "batchnorm": (nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8),
                                    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(72, 16),
                                    nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)),
                      (1, 8, 8)),
        "conv1d": (nn.Sequential(nn.Conv1d(8, 8, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                                 nn.Linear(24, 10)), (8, 8)),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_float_torch_cnn_is_bit_exact_on_every_level(name: str, digits_data,
                                                     tmp_path: Path) -> None:
    from kiln.verify import verify
    from models.digits_mlp_brevitas import train

    model, shape = _models()[name]
    x_train, x_test, y_train, y_test = digits_data
    torch.set_num_threads(1)
    train(model, x_train.reshape(len(x_train), *shape), y_train, epochs=15)
    x = np.ascontiguousarray(x_test[:300].reshape(300, *shape))
    with torch.no_grad():
        float_pred = model(torch.from_numpy(x)).numpy().argmax(axis=1)
    out = tmp_path / name
    art = kiln.compile(model, out, input_shape=shape, io_type="io_stream",
                       precision="fixed<16,6>")
    assert art.manifest.input_layout == "channels_first"
    assert art.manifest.input_shape == [*shape[1:], shape[0]]
    report = verify(out, x=x, labels=y_test[:300])
    assert (report.samples, report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.icarus_mismatches, report.protocol_passed) == (300, 0, 0, 0, True)
    assert report.argmax_vs_reference is not None and report.argmax_vs_reference >= 0.97
    codes = kiln.load(out).predict(x, device="cpu")
    assert (codes.argmax(axis=1) == float_pred).mean() >= 0.97
