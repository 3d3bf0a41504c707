"""Brevitas QAT recipe: the same 64-32-32-10 digits MLP as ``digits_mlp.py``, in PyTorch.

Run ``python -m models.digits_mlp_brevitas`` to retrain. It writes, beside this file:

- ``digits_mlp_brevitas.pt``: the trained state_dict (rebuild with :func:`load_model`);
- ``digits_mlp_brevitas.onnx``: the QONNX export (``kiln compile`` reads it without this code);
- ``digits_mlp_brevitas.metrics.json``: float vs quantized test accuracy.

Every quantizer has a power-of-two scale (Brevitas' fixed-point quantizers), so each tensor is
an ap_fixed type and kiln can demand bit equality with this model. Training is deterministic
(fixed seeds, one thread) and takes about a minute on two cores.

It is also a compression recipe (the contract ``kiln.explore`` reads), the twin of
``digits_mlp.py``: ``train(config)`` returns the QONNX export of a QAT Brevitas model trained
as ``config`` says (a ModelProto, which ``kiln.compile`` reads without an input shape;
:func:`train_module` gives the module itself) and ``data()`` the test inputs and labels.
Config keys: ``bits`` (weight, bias and ReLU width, default 6), ``sparsity`` (magnitude
pruning target of every weight, 0..1, default 0), ``distill`` (train from a float teacher's
soft targets, default False), ``seed`` (1234); also ``epochs`` (60), ``hidden`` ((32, 32)),
``teacher_hidden`` ((64, 64)), ``temperature`` (4) and ``alpha`` (0.3). Other keys are
ignored. ``train(model, x, y, epochs)`` (a module first) is the plain training loop the
other Brevitas recipes share.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, overload

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


def _quantizers(bits: int = BITS) -> dict[str, type]:
    """``bits``-wide power-of-two quantizers for weights, biases and ReLUs (Brevitas' 8-bit
    fixed-point ones, narrowed; default 6) and the 6-bit input quantizer."""
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    def narrowed(name: str, base: type) -> type:
        # Named after its width (Weight6, Relu4, ...): kiln's messages quote the class name.
        # Brevitas injectors refuse attribute changes, so the class is made with the width.
        return type(base)(f"{name}{bits}", (base,), {"bit_width": bits, "__module__": __name__})

    weight = narrowed("Weight", Int8WeightPerTensorFixedPoint)  # narrow: -31..31 at 6 bits
    bias = narrowed("Bias", Int8BiasPerTensorFixedPointInternalScaling)
    relu = narrowed("Relu", Uint8ActPerTensorFixedPoint)  # radix point learned, power of two

    class Input6(Uint8ActPerTensorFixedPoint):
        # Pixels are k/16 in [0, 1]: a fixed scale of 2/64 = 1/32 (ufixed<6,1>) holds them exactly.
        bit_width = BITS
        scaling_impl_type = ScalingImplType.CONST
        max_val = 2.0

    return {"weight": weight, "bias": bias, "relu": relu, "input": Input6}


class DigitsMLP(nn.Module):
    """Brevitas digits MLP: quantized input, ``bits``-wide (default 6) weights, biases and
    ReLUs, float logits (exact: sums of power-of-two-scaled integers). Layers ``fc1``,
    ``relu1``, ... per ``hidden`` width (default 32-32), then ``logits``."""

    def __init__(self, hidden: tuple[int, ...] = (32, 32), bits: int = BITS) -> None:
        import brevitas.nn as qnn

        super().__init__()
        q = _quantizers(bits)

        def linear(n_in: int, n_out: int, quant_out: bool) -> nn.Module:
            return qnn.QuantLinear(n_in, n_out, bias=True, weight_quant=q["weight"],
                                   bias_quant=q["bias"], return_quant_tensor=quant_out)

        self.input_q = qnn.QuantIdentity(act_quant=q["input"], return_quant_tensor=True)
        self.depth = len(hidden)
        for k, (n_in, n_out) in enumerate(zip((64, *hidden), hidden, strict=False), start=1):
            setattr(self, f"fc{k}", linear(n_in, n_out, True))
            setattr(self, f"relu{k}",
                    qnn.QuantReLU(act_quant=q["relu"], return_quant_tensor=True))
        self.logits = linear((64, *hidden)[-1], 10, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_q(x)
        for k in range(1, self.depth + 1):
            x = getattr(self, f"relu{k}")(getattr(self, f"fc{k}")(x))
        return self.logits(x)


def build_model(quantized: bool = True, hidden: tuple[int, ...] = (32, 32),
                bits: int = BITS) -> nn.Module:
    """The digits MLP; with ``quantized=False`` the same topology in plain float PyTorch."""
    if quantized:
        return DigitsMLP(hidden, bits)
    widths = (64, *hidden)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths, hidden, strict=False):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], 10))


@overload
def train(model: Mapping[str, Any]) -> Any: ...
@overload
def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = SEED
          ) -> nn.Module: ...
def train(model: nn.Module | Mapping[str, Any], x: np.ndarray | None = None,
          y: np.ndarray | None = None, epochs: int = EPOCHS, seed: int = SEED) -> Any:
    """``train(config)``: the recipe (:func:`train_recipe`). ``train(model, x, y, epochs)``:
    the plain QAT loop of the Brevitas recipes (Adam 3e-3, batches of 32, cross entropy)."""
    if isinstance(model, Mapping):
        return train_recipe(model)
    if x is None or y is None:
        raise TypeError("train(model, x, y, epochs) needs the training inputs and labels")
    return _fit(model, x, y, epochs, seed)


def _fit(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = SEED
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


TEACHER_HIDDEN = (64, 64)
_TEACHERS: dict[tuple[Any, ...], nn.Module] = {}


def data() -> tuple[np.ndarray, np.ndarray]:
    """The test split: (x_test, y_test), the inputs kiln feeds the compiled model and the
    integer labels."""
    _, x_te, _, y_te = digits_split()
    return x_te, y_te


def teacher(hidden: tuple[int, ...] = TEACHER_HIDDEN, seed: int = SEED,
            epochs: int = EPOCHS) -> nn.Module:
    """The float teacher for distillation: a plain torch MLP (default 64-64-64-10) trained on
    the training split; cached per (hidden, seed, epochs) within the process."""
    key = (tuple(hidden), seed, epochs)
    if key not in _TEACHERS:
        x_tr, _, y_tr, _ = digits_split()
        torch.manual_seed(seed)
        _TEACHERS[key] = _fit(build_model(False, tuple(hidden)), x_tr, y_tr, epochs, seed)
    return _TEACHERS[key]


def train_module(config: Mapping[str, Any]) -> nn.Module:
    """The recipe's Brevitas module: QAT as ``config`` says (keys in the module docstring;
    unknown keys are ignored), pruning masks folded into the weights, in eval mode."""
    from models.compress_torch import Distillation, fit_compressed

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    bits = int(config.get("bits", BITS))
    seed = int(config.get("seed", SEED))
    epochs = int(config.get("epochs", EPOCHS))
    hidden = tuple(int(h) for h in config.get("hidden", (32, 32)))
    x_tr, _, y_tr, _ = digits_split()
    mentor = None
    if config.get("distill", False):
        mentor = teacher(tuple(config.get("teacher_hidden", TEACHER_HIDDEN)), seed, epochs)
    distill = Distillation(float(config.get("temperature", 4.0)),
                           float(config.get("alpha", 0.3)))
    torch.manual_seed(seed)
    return fit_compressed(build_model(True, hidden, bits), x_tr, y_tr, epochs=epochs,
                          sparsity=float(config.get("sparsity", 0.0)), teacher=mentor,
                          distill=distill, seed=seed)


def train_recipe(config: Mapping[str, Any]) -> Any:
    """``train(config)``: :func:`train_module`'s model as the QONNX ModelProto kiln
    compiles (it carries its input shape, (64,))."""
    from brevitas.export import export_qonnx

    return export_qonnx(train_module(config), torch.zeros(1, 64), dynamo=False)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
