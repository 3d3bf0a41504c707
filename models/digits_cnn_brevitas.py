"""Brevitas QAT recipe: a small CNN for the 8x8 digits images, in PyTorch.

Run ``python -m models.digits_cnn_brevitas`` to retrain. It writes, beside this file:

- ``digits_cnn_brevitas.pt``: the trained state_dict (rebuild with :func:`load_model`);
- ``digits_cnn_brevitas.onnx``: the QONNX export (``kiln compile`` reads it without this code);
- ``digits_cnn_brevitas.metrics.json``: float vs quantized test accuracy.

Inputs are channels-first, as PyTorch lays them out: ``(n, 1, 8, 8)``. The quantizers are the
digits MLP's 6-bit power-of-two ones (``digits_mlp_brevitas``), so every tensor is an ap_fixed
type. Training is deterministic (fixed seeds, one thread) and takes a few minutes on two cores.

It is also a compression recipe for ``kiln.explore`` (the contract of ``digits_mlp_brevitas``):
``train(config)`` returns the QONNX export of a QAT model trained as ``config`` says (compile
it with ``io_type="io_stream"``; :func:`train_module` gives the module) and ``data()`` the
test images and labels. Config keys: ``bits`` (weights, biases and ReLUs, default 6),
``sparsity`` (magnitude pruning target of every kernel, default 0), ``distill`` (soft targets
of the float model of the same topology, default False), ``seed`` (1234), ``epochs`` (40),
``temperature`` (4) and ``alpha`` (0.3); other keys are ignored. ``train(model, x, y,
epochs)`` (a module first) is the plain training loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from models.data import digits_split
from models.digits_mlp_brevitas import BITS, SEED, _quantizers, save_trained
from models.digits_mlp_brevitas import train as _plain_train

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

    def __init__(self, bits: int = BITS) -> None:
        import brevitas.nn as qnn

        super().__init__()
        q = _quantizers(bits)

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


def build_model(quantized: bool = True, bits: int = BITS) -> nn.Module:
    """The digits CNN; with ``quantized=False`` the same topology in plain float PyTorch."""
    if quantized:
        return DigitsCNN(bits)
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


@overload
def train(model: Mapping[str, Any]) -> Any: ...
@overload
def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = SEED
          ) -> nn.Module: ...
def train(model: nn.Module | Mapping[str, Any], x: np.ndarray | None = None,
          y: np.ndarray | None = None, epochs: int = EPOCHS, seed: int = SEED) -> Any:
    """``train(config)``: the recipe (:func:`train_recipe`). ``train(model, x, y, epochs)``:
    the plain QAT loop of the Brevitas recipes."""
    if isinstance(model, Mapping):
        return train_recipe(model)
    if x is None or y is None:
        raise TypeError("train(model, x, y, epochs) needs the training inputs and labels")
    return _plain_train(model, x, y, epochs, seed)


_TEACHERS: dict[tuple[int, int], nn.Module] = {}


def data() -> tuple[np.ndarray, np.ndarray]:
    """The test split as images: (x_test (n, 1, 8, 8), y_test)."""
    _, x_te, _, y_te = digits_split()
    return images(x_te), y_te


def teacher(seed: int = SEED, epochs: int = EPOCHS) -> nn.Module:
    """The float teacher: the plain torch CNN of the same topology, trained on the training
    split; cached per (seed, epochs) within the process."""
    if (seed, epochs) not in _TEACHERS:
        x_tr, _, y_tr, _ = digits_split()
        torch.manual_seed(seed)
        _TEACHERS[seed, epochs] = _plain_train(build_model(False), images(x_tr), y_tr,
                                               epochs, seed)
    return _TEACHERS[seed, epochs]


def train_module(config: Mapping[str, Any]) -> nn.Module:
    """The recipe's Brevitas CNN: QAT as ``config`` says (keys in the module docstring),
    pruning masks folded into the weights, in eval mode."""
    from models.compress_torch import Distillation, fit_compressed

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    seed = int(config.get("seed", SEED))
    epochs = int(config.get("epochs", EPOCHS))
    x_tr, _, y_tr, _ = digits_split()
    mentor = teacher(seed, epochs) if config.get("distill", False) else None
    distill = Distillation(float(config.get("temperature", 4.0)),
                           float(config.get("alpha", 0.3)))
    torch.manual_seed(seed)
    return fit_compressed(build_model(True, int(config.get("bits", BITS))), images(x_tr),
                          y_tr, epochs=epochs, sparsity=float(config.get("sparsity", 0.0)),
                          teacher=mentor, distill=distill, seed=seed)


def train_recipe(config: Mapping[str, Any]) -> Any:
    """``train(config)``: :func:`train_module`'s model as the QONNX ModelProto kiln
    compiles (it carries its input shape, (1, 8, 8))."""
    from brevitas.export import export_qonnx

    return export_qonnx(train_module(config), torch.zeros(1, *INPUT_SHAPE), dynamo=False)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
