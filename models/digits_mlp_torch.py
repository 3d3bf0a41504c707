"""Plain PyTorch recipe: the 64-32-32-10 digits MLP in float ``torch.nn``, no quantizers.

Run ``python -m models.digits_mlp_torch`` to retrain. It writes, beside this file:

- ``digits_mlp_torch.pt``: the trained model as TorchScript (``kiln compile`` reads it without
  this code: ``kiln compile models/digits_mlp_torch.pt -o DIR --input-shape 64
  --precision 'fixed<8,3>'``);
- ``digits_mlp_torch.metrics.json``: its float test accuracy.

A float model has no types of its own: kiln builds it with one user-given fixed-point type for
every tensor, and proves RTL == HLS C simulation == kiln.fixed (not equality with these floats).
Same topology, seed and training loop as ``digits_mlp_brevitas``; about 20 s on two cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from models.data import digits_split
from models.digits_mlp_brevitas import EPOCHS, SEED, accuracy, build_model, train

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "digits_mlp_torch.pt"
METRICS_FILE = HERE / "digits_mlp_torch.metrics.json"


def load_model(path: Path = MODEL_FILE) -> torch.nn.Module:
    """The trained float MLP (TorchScript), in eval mode."""
    return torch.jit.load(str(path), map_location="cpu").eval()


def main(out_dir: Path = HERE, epochs: int = EPOCHS) -> dict:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.monotonic()
    x_tr, x_te, y_tr, y_te = digits_split()
    torch.manual_seed(SEED)
    model = train(build_model(quantized=False), x_tr, y_tr, epochs)
    torch.jit.save(torch.jit.script(model), str(out_dir / MODEL_FILE.name))
    metrics = {
        "model": "digits_mlp_torch",
        "framework": "torch",
        "test_samples": int(len(y_te)),
        "float_accuracy": accuracy(model, x_te, y_te),
        "epochs": epochs,
        "train_seconds": round(time.monotonic() - start, 1),
    }
    (out_dir / METRICS_FILE.name).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
