"""Brevitas QAT recipe: the same 64-32-32-10 digits MLP as ``digits_mlp.py``, in PyTorch.

Run ``python -m models.digits_mlp_brevitas`` to retrain. It writes, beside this file:

- ``digits_mlp_brevitas.pt``: the trained state_dict (rebuild with :func:`load_model`);
- ``digits_mlp_brevitas.onnx``: the QONNX export (``kiln compile`` reads it without this code);
- ``digits_mlp_brevitas.metrics.json``: float vs quantized test accuracy.

Every quantizer has a power-of-two scale (Brevitas' fixed-point quantizers), so each tensor is
an ap_fixed type and kiln can demand bit equality with this model. Training is deterministic
(fixed seeds, one thread) and takes about a minute on two cores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.data import digits_split

HERE = Path(__file__).resolve().parent
STATE_FILE = HERE / "digits_mlp_brevitas.pt"
QONNX_FILE = HERE / "digits_mlp_brevitas.onnx"

BITS = 6
SEED = 1234
EPOCHS = 60


def _quantizers() -> dict[str, type]:
    """6-bit power-of-two quantizers (Brevitas' 8-bit fixed-point ones, narrowed)."""
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    class Weight6(Int8WeightPerTensorFixedPoint):  # narrow: codes -31..31
        bit_width = BITS

    class Bias6(Int8BiasPerTensorFixedPointInternalScaling):
        bit_width = BITS

    class Relu6(Uint8ActPerTensorFixedPoint):  # radix point learned, power of two
        bit_width = BITS

    class Input6(Uint8ActPerTensorFixedPoint):
        # Pixels are k/16 in [0, 1]: a fixed scale of 2/64 = 1/32 (ufixed<6,1>) holds them exactly.
        bit_width = BITS
        scaling_impl_type = ScalingImplType.CONST
        max_val = 2.0

    return {"weight": Weight6, "bias": Bias6, "relu": Relu6, "input": Input6}


class DigitsMLP(nn.Module):
    """Brevitas digits MLP: quantized input, 6-bit weights, biases and ReLUs, float logits
    (exact: sums of power-of-two-scaled integers)."""

    def __init__(self) -> None:
        import brevitas.nn as qnn

        super().__init__()
        q = _quantizers()

        def linear(n_in: int, n_out: int, quant_out: bool) -> nn.Module:
            return qnn.QuantLinear(n_in, n_out, bias=True, weight_quant=q["weight"],
                                   bias_quant=q["bias"], return_quant_tensor=quant_out)

        self.input_q = qnn.QuantIdentity(act_quant=q["input"], return_quant_tensor=True)
        self.fc1 = linear(64, 32, True)
        self.relu1 = qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True)
        self.fc2 = linear(32, 32, True)
        self.relu2 = qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True)
        self.logits = linear(32, 10, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.fc1(self.input_q(x)))
        return self.logits(self.relu2(self.fc2(x)))


def build_model(quantized: bool = True) -> nn.Module:
    """The digits MLP; with ``quantized=False`` the same topology in plain float PyTorch."""
    if quantized:
        return DigitsMLP()
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = SEED
          ) -> nn.Module:
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=order)
        for start in range(0, len(xs), 32):
            idx = perm[start:start + 32]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    return model.eval()(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x).argmax(axis=1) == y).mean())


def load_model(path: Path = STATE_FILE) -> nn.Module:
    """The trained Brevitas model, rebuilt from its state_dict, in eval mode."""
    model = DigitsMLP()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def main(out_dir: Path = HERE, epochs: int = EPOCHS) -> dict:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.monotonic()
    x_tr, x_te, y_tr, y_te = digits_split()

    torch.manual_seed(SEED)
    float_model = train(build_model(quantized=False), x_tr, y_tr, epochs)
    torch.manual_seed(SEED)
    qmodel = train(build_model(quantized=True), x_tr, y_tr, epochs)

    return save_trained("digits_mlp_brevitas", qmodel, float_model, load_model,
                        torch.zeros(1, 64), out_dir, epochs, start, x_te, y_te)


def save_trained(name: str, qmodel: nn.Module, float_model: nn.Module,
                 load: Callable[[Path], nn.Module], example: torch.Tensor, out_dir: Path,
                 epochs: int, start: float, x_te: np.ndarray, y_te: np.ndarray) -> dict:
    """Save a Brevitas recipe's results: the QAT model's state (checked to reload to the same
    predictions), its QONNX export and ``<name>.metrics.json``; return the metrics."""
    from brevitas.export import export_qonnx

    state_file = out_dir / f"{name}.pt"
    torch.save(qmodel.state_dict(), state_file)
    if not np.array_equal(predict(load(state_file), x_te), predict(qmodel, x_te)):
        raise RuntimeError(f"the reloaded {name} does not reproduce the trained model")
    export_qonnx(qmodel, example, export_path=str(out_dir / f"{name}.onnx"), dynamo=False)
    metrics = {
        "model": name,
        "framework": "brevitas",
        "test_samples": int(len(y_te)),
        "float_accuracy": accuracy(float_model, x_te, y_te),
        "quantized_accuracy": accuracy(qmodel, x_te, y_te),
        "bits": BITS,
        "epochs": epochs,
        "train_seconds": round(time.monotonic() - start, 1),
    }
    (out_dir / f"{name}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
