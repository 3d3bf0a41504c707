"""The shipped binary digits MLP (models/digits_bnn.py): its hidden layers are binary in
kiln's IR (one SignThreshold per layer, no batch norm left), kiln.fixed equals QKeras on the
whole digits test split, and (slow) the RTL equals HLS C-sim and kiln.fixed there, with
QKeras's accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.shipped import SHIPPED

BNN = {m.name: m for m in SHIPPED}["digits_bnn"]


def test_binary_layers_and_qkeras_equality(tmp_path: Path) -> None:
    from kiln import frontend
    from kiln.compiler import BuildOptions
    from kiln.fixed import execute, from_float, to_float
    from kiln.frontend import load_keras
    from kiln.ir import SignThreshold

    model = load_keras(BNN.path).model
    options = BuildOptions()
    graph = frontend.lower(frontend.convert(model, tmp_path, options), "bnn", options)
    assert [n.kind for n in graph.nodes] == ["input", "dense", "sign_threshold", "dense",
                                             "sign_threshold", "dense"]
    signs = [n for n in graph.nodes if isinstance(n, SignThreshold)]
    assert all(np.array_equal(n.upper, n.lower) for n in signs)  # binary: never 0
    x, y = BNN.data()  # type: ignore[misc]
    codes = from_float(torch.from_numpy(x), graph.input.out_type)
    got = to_float(execute(graph, codes)["output"], graph.output.out_type).numpy()
    want = model.predict(x.astype(np.float32), verbose=0)
    assert np.array_equal(got, want)
    metrics = json.loads(BNN.path.with_suffix(".metrics.json").read_text())
    assert float((got.argmax(axis=1) == y).mean()) == metrics["quantized_accuracy"]


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_digits_bnn_bit_exact_everywhere(tmp_path: Path) -> None:
    import kiln
    from kiln.verify import verify

    kiln.compile(str(BNN.path), tmp_path / "bnn")
    x, y = BNN.data()  # type: ignore[misc]
    report = verify(tmp_path / "bnn", x=x, labels=y)
    assert report.samples == 450
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.icarus_mismatches) == (0, 0, 0)
    # not claimed (float batch norms), measured equal
    assert report.rtl_vs_reference_mismatches is None and report.max_lsb_vs_reference == 0
    metrics = json.loads(BNN.path.with_suffix(".metrics.json").read_text())
    assert report.accuracy == metrics["quantized_accuracy"]
    assert report.protocol_passed and report.protocol_mismatches == 0
