"""Brevitas QAT recipe: a small CNN for the 8x8 digits images, in PyTorch.

Run ``python -m models.digits_cnn_brevitas`` to retrain. It writes, beside this file:

- ``digits_cnn_brevitas.pt``: the trained state_dict (rebuild with :func:`load_model`);
- ``digits_cnn_brevitas.onnx``: the QONNX export (``kiln compile`` reads it without this code);
- ``digits_cnn_brevitas.metrics.json``: float vs quantized test accuracy.

Inputs are channels-first, as PyTorch lays them out: ``(n, 1, 8, 8)``. The quantizers are the
digits MLP's 6-bit power-of-two ones (``digits_mlp_brevitas``), so every tensor is an ap_fixed
type. Training is deterministic (fixed seeds, one thread) and takes a few minutes on two cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.data import digits_split
from models.digits_mlp_brevitas import SEED, _quantizers, save_trained, train

HERE = Path(__file__).resolve().parent
STATE_FILE = HERE / "digits_cnn_brevitas.pt"
QONNX_FILE = HERE / "digits_cnn_brevitas.onnx"

INPUT_SHAPE = (1, 8, 8)  # channels, height, width
FILTERS = 8
EPOCHS = 40


def images(x: np.ndarray) -> np.ndarray:
    """Flat digits rows (n, 64) as channels-first images (n, 1, 8, 8)."""
    return np.ascontiguousarray(x.reshape(len(x), *INPUT_SHAPE))


class DigitsCNN(nn.Module):
    """The topology of the QKeras ``digits_cnn``: conv 3x3 (8, valid) -> ReLU -> max-pool 2x2
    -> conv 3x3 (8) -> ReLU -> flatten -> dense 10, all 6-bit, float logits (exact: sums of
    power-of-two-scaled integers)."""

    def __init__(self) -> None:
        import brevitas.nn as qnn

        super().__init__()
        q = _quantizers()

        def conv(n_in: int) -> nn.Module:
            return qnn.QuantConv2d(n_in, FILTERS, 3, bias=True, weight_quant=q["weight"],
                                   bias_quant=q["bias"], return_quant_tensor=True)

        self.input_q = qnn.QuantIdentity(act_quant=q["input"], return_quant_tensor=True)
        self.conv1 = conv(1)
        self.relu1 = qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = conv(FILTERS)
        self.relu2 = qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True)
        self.logits = qnn.QuantLinear(FILTERS, 10, bias=True, weight_quant=q["weight"],
                                      bias_quant=q["bias"], return_quant_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(self.input_q(x))))
        x = self.relu2(self.conv2(x))
        return self.logits(torch.flatten(x, 1))


def build_model(quantized: bool = True) -> nn.Module:
    """The digits CNN; with ``quantized=False`` the same topology in plain float PyTorch."""
    if quantized:
        return DigitsCNN()
    return nn.Sequential(nn.Conv2d(1, FILTERS, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(FILTERS, FILTERS, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(FILTERS, 10))


def load_model(path: Path = STATE_FILE) -> nn.Module:
    """The trained Brevitas CNN, rebuilt from its state_dict, in eval mode."""
    model = DigitsCNN()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def main(out_dir: Path = HERE, epochs: int = EPOCHS) -> dict:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.monotonic()
    x_tr, x_te, y_tr, y_te = digits_split()
    x_tr, x_te = images(x_tr), images(x_te)

    torch.manual_seed(SEED)
    float_model = train(build_model(quantized=False), x_tr, y_tr, epochs)
    torch.manual_seed(SEED)
    qmodel = train(build_model(quantized=True), x_tr, y_tr, epochs)

    return save_trained("digits_cnn_brevitas", qmodel, float_model, load_model,
                        torch.zeros(1, *INPUT_SHAPE), out_dir, epochs, start, x_te, y_te)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
