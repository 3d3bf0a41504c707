"""Accuracy against each layer's output width (kiln.fixed), on the small digits MLP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.cli import main
from kiln.errors import KilnError
from kiln.ir import FixedType
from kiln.trace import narrowed


def test_narrowed_cuts_fraction_bits_of_one_layer(small_artifact: Any) -> None:
    graph = small_artifact.graph
    cut = narrowed(graph, "fc1", 8)
    t = graph.node("fc1").out_type
    assert cut.node("fc1").out_type == FixedType(8, t.integer, t.signed, t.rounding, t.overflow)
    assert [n.out_type for n in cut.nodes if n.name != "fc1"] == \
        [n.out_type for n in graph.nodes if n.name != "fc1"]


def test_sweep_of_the_small_digits_mlp(small_artifact: Any, tmp_path: Path) -> None:
    from models.data import digits_split

    x, y = digits_split()[1], digits_split()[3]
    rt = kiln.load(small_artifact.path)
    sweep = rt.bit_sweep(x, y)
    predicted = rt.predict(x, device="cpu", raw=True).argmax(axis=1)
    assert sweep.baseline == pytest.approx(float((predicted == y).mean()))
    assert list(sweep.accuracy) == ["fc1", "relu1"]     # the last layer is the answer
    for layer, by_width in sweep.accuracy.items():
        built = sweep.built[layer]
        assert max(by_width) == built and by_width[built] == sweep.baseline
        assert 2 <= sweep.bits_needed(layer) <= built
    assert sweep.accuracy["fc1"][2] < sweep.baseline - 0.3   # 2 bits of fc1 lose the model
    assert "needed" in sweep.table()
    assert sweep.plot(tmp_path / "bits.png").stat().st_size > 0
    with pytest.raises(KilnError, match="one label each"):
        rt.bit_sweep(x, y[:3])


def test_cli_prints_the_sweep_with_labels(small_artifact: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from models.data import digits_split

    np.save(tmp_path / "x.npy", digits_split()[1][:40])
    np.save(tmp_path / "y.npy", digits_split()[3][:40])
    status = main(["trace", str(small_artifact.path), str(tmp_path / "x.npy"), "--levels",
                   "fixed", "--labels", str(tmp_path / "y.npy"), "--plot",
                   str(tmp_path / "bits.png")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "accuracy with one layer's output narrowed (40 samples" in out
    assert (tmp_path / "bits.png").stat().st_size > 0
