"""The measurements of docs/codesign.md: pruning and distillation on the digits MLP recipe.

``python -m models.codesign prune`` trains the digits MLP (6 bits) dense and at each
sparsity, trains the float model of the same shape at the same sparsity, compiles the QKeras
model with kiln at reuse factor 1, reads kiln's LUT estimate (reports/fit.json), runs
kiln.fixed on the test split and verifies RTL vs HLS vs kiln.fixed on 2000 random inputs.
``python -m models.codesign distill [T ALPHA]`` trains the float teacher and the quantized
students without and with distillation (temperature T, default 4; hard-loss weight ALPHA,
default 0.3) over a few seeds. Results go to ``build/codesign/*.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from models import digits_mlp
from models.compress import fit_compressed, kernel_sparsity
from models.data import digits_split

OUT = Path("build/codesign")
SPARSITIES = (0.0, 0.5, 0.7, 0.8)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(predictions).argmax(axis=1) == labels).mean())


def float_accuracy(sparsity: float, seed: int = digits_mlp.SEED) -> float:
    """The float model of the same shape, pruned the same way."""
    import tensorflow as tf

    x_tr, x_te, y_tr, y_te = digits_split()
    tf.keras.utils.set_random_seed(seed)
    model = fit_compressed(digits_mlp.build_model(False), x_tr, y_tr,
                           epochs=digits_mlp.EPOCHS, sparsity=sparsity)
    return accuracy(model.predict(x_te, verbose=0), y_te)


def prune_row(sparsity: float, recipe: Any = digits_mlp,
              config: dict[str, Any] | None = None) -> dict[str, Any]:
    import kiln
    from kiln.verify import verify

    x_te, y_te = recipe.data()
    start = time.time()
    qmodel = recipe.train({"sparsity": sparsity, "bits": recipe.BITS, **(config or {})})
    train_s = time.time() - start
    name = recipe.__name__.rsplit(".", 1)[-1] + ("_sep" if (config or {}).get("separable") else "")
    out = OUT / f"{name}_s{round(sparsity * 100)}"
    io_type = "io_parallel" if recipe is digits_mlp else "io_stream"   # convolutions: stream
    kiln.compile(qmodel, out, io_type=io_type, reuse_factor=1)
    fit = json.loads((out / "reports" / "fit.json").read_text())["estimate"]["total"]
    report = verify(out, samples=2000, protocol=False)
    return {
        "sparsity_target": sparsity,
        "kernel_sparsity": round(kernel_sparsity(qmodel), 4),
        "float_accuracy": float_accuracy(sparsity) if recipe is digits_mlp else None,
        "qkeras_accuracy": accuracy(qmodel.predict(x_te, verbose=0), y_te),
        "kiln_fixed_accuracy": accuracy(kiln.load(out).predict(x_te, device="cpu"), y_te),
        "kiln_estimate": fit,
        "latency": report.latency,
        "ii": report.ii,
        "verify_samples": report.samples,
        "rtl_vs_hls_mismatches": report.rtl_vs_hls_mismatches,
        "rtl_vs_cpu_mismatches": report.rtl_vs_cpu_mismatches,
        "train_s": round(train_s, 1),
        "artifact": str(out),
    }


def prune(sparsities: tuple[float, ...] = SPARSITIES) -> list[dict[str, Any]]:
    rows = []
    for s in sparsities:
        rows.append(prune_row(s))
        print(json.dumps(rows[-1]), flush=True)
        (OUT / "prune.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


STUDENTS = ({"bits": 4, "hidden": (32, 32)}, {"bits": 3, "hidden": (16,)})
SEEDS = (1, 2, 3)


def distill(temperature: float = 4.0, alpha: float = 0.3) -> list[dict[str, Any]]:
    x_te, y_te = digits_mlp.data()
    name = "distill.json" if (temperature, alpha) == (4.0, 0.3) else \
        f"distill_t{temperature:g}_a{alpha:g}.json"
    rows = []
    for seed in SEEDS:
        teacher = digits_mlp.teacher(seed=seed)
        teacher_acc = accuracy(teacher.predict(x_te, verbose=0), y_te)
        for student in STUDENTS:
            row: dict[str, Any] = {"seed": seed, "teacher_accuracy": teacher_acc,
                                   "temperature": temperature, "alpha": alpha,
                                   "bits": student["bits"], "hidden": list(student["hidden"])}
            for flag in (False, True):
                model = digits_mlp.train({**student, "seed": seed, "distill": flag,
                                          "temperature": temperature, "alpha": alpha})
                key = "distilled_accuracy" if flag else "plain_accuracy"
                row[key] = accuracy(model.predict(x_te, verbose=0), y_te)
            rows.append(row)
            print(json.dumps(row), flush=True)
            (OUT / name).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    what = sys.argv[1] if len(sys.argv) > 1 else "prune"
    if what == "prune":
        extra = tuple(float(a) for a in sys.argv[2:])
        prune(extra or SPARSITIES)
    elif what == "cnn":
        from models import digits_cnn

        rows = []
        for s in tuple(float(a) for a in sys.argv[2:]) or (0.0, 0.7):
            rows.append(prune_row(s, digits_cnn))
            print(json.dumps(rows[-1]), flush=True)
            (OUT / "cnn.json").write_text(json.dumps(rows, indent=2) + "\n")
    elif what == "distill":
        distill(*(float(a) for a in sys.argv[2:4]))
    else:
        raise SystemExit(f"unknown measurement {what!r}: choose prune, cnn or distill")
