"""Traces of the small digits MLP: every level agrees, and a layer corrupted at one level is
the first divergence, named with that level. ``kiln trace`` prints the table."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.artifact import Artifact
from kiln.cli import main
from kiln.ir import Dense, frozen_codes
from kiln.runtime import Runtime

FAST_LEVELS = ("reference", "fixed", "hls")


def _copy(artifact: Any, where: Path) -> Path:
    """A copy of the artifact without its built simulators."""
    shutil.copytree(artifact.path, where, ignore=shutil.ignore_patterns("sim"))
    return where


def test_fast_levels_agree_on_every_layer(small_artifact: Any, images: Any,
                                          trace_cache: Path) -> None:
    trace = kiln.load(small_artifact.path).trace(images, levels=FAST_LEVELS, cache=trace_cache)
    assert trace.levels == FAST_LEVELS
    assert [la.name for la in trace.layers] == ["fc1", "relu1", "logits"]
    for level in FAST_LEVELS:
        assert set(trace.codes[level]) == {"fc1", "relu1", "logits"}, trace.skipped
    assert trace.first_divergence() is None, trace.table()
    assert trace.skipped == {}
    assert all(trace.reference_lsb(la.name) == 0 for la in trace.layers)
    # the last layer's codes are the model's outputs
    out = kiln.load(small_artifact.path).predict(images, device="cpu", raw=True)
    assert np.array_equal(trace["hls", "logits"], out)


def _broken_logits(artifact: Any) -> Any:
    """``artifact`` whose IR (what kiln.fixed runs) has logit 3's weights negated."""
    graph = artifact.graph
    logits = graph.node("logits")
    assert isinstance(logits, Dense)
    weight = np.array(logits.weight)
    weight[:, 3] = -weight[:, 3]      # logit 3 gets the opposite weights: every sample moves
    nodes = tuple(dataclasses.replace(n, weight=frozen_codes(weight)) if n.name == "logits"
                  else n for n in graph.nodes)
    return dataclasses.replace(artifact, graph=dataclasses.replace(graph, nodes=nodes))


def test_a_wrong_weight_in_kiln_fixed_is_found_at_its_layer(
        small_artifact: Any, images: Any, trace_cache: Path) -> None:
    trace = Runtime(_broken_logits(small_artifact)).trace(images, levels=FAST_LEVELS,
                                                          cache=trace_cache)
    first = trace.first_divergence()
    assert first is not None, trace.table()
    assert first.layer == "logits"
    assert "fixed" in first.levels and first.suspect == "fixed"
    assert first.max_lsb > 0 and 0 <= first.sample < len(images)


def test_compare_names_the_first_layer_where_a_device_parts(
        small_artifact: Any, images: Any, trace_cache: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_CACHE_DIR", str(trace_cache))   # the traced C-sim built above
    report = Runtime(_broken_logits(small_artifact)).compare(images, devices=["hls", "cpu"])
    assert report.row("cpu").mismatches and report.row("cpu").diverges_at == "logits"
    assert report.row("hls").diverges_at is None
    assert "first bad layer" in str(report) and "logits" in str(report)
    clean = kiln.load(small_artifact.path).compare(images, devices=["hls", "cpu"])
    assert "first bad layer" not in str(clean)


def test_a_wrong_weight_in_the_hls_project_is_found_at_its_layer(
        small_artifact: Any, images: Any, trace_cache: Path, tmp_path: Path) -> None:
    copy = _copy(small_artifact, tmp_path / "art")
    header = copy / "hls" / "firmware" / "weights" / "w3.h"   # fc1's weights, (64, 16)
    text = header.read_text()
    body = re.search(r"\{([^}]*)\}", text)
    assert body, "fc1's weight header has no array"
    values = body[1].split(",")
    at = 28 * 16 + 5                  # pixel 28 (the image's middle) to output 5
    values[at] = " 0.5" if float(values[at]) != 0.5 else " -0.5"
    header.write_text(text.replace(body[1], ",".join(values), 1))
    runtime = Runtime(Artifact.open(copy, check=False))
    trace = runtime.trace(images, levels=("fixed", "hls"), cache=trace_cache)
    first = trace.first_divergence()
    assert first is not None, trace.table()
    assert (first.layer, first.levels) == ("fc1", ("fixed", "hls"))
    # the trace built a copy: the artifact's own project is as it was
    assert "kiln_trace_add" not in (copy / "hls" / "kiln_model_bridge.cpp").read_text()
    assert "save_layer_output" not in (copy / "hls" / "firmware" / "kiln_model.cpp").read_text()
    assert not list((copy / "hls").glob("**/*.o"))


def test_cli_prints_the_table_and_exits_0_when_levels_agree(
        small_artifact: Any, images: Any, trace_cache: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", images)
    status = main(["trace", str(small_artifact.path), str(tmp_path / "x.npy"), "--samples",
                   "4", "--levels", "fixed,hls", "--cache", str(trace_cache),
                   "--json", str(tmp_path / "t.json")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "digits_mlp_small: 4 samples; levels: fixed, hls" in out
    assert "first divergence: none" in out
    assert '"first_divergence": null' in (tmp_path / "t.json").read_text()


def test_cli_refuses_an_unknown_level(small_artifact: Any, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    with pytest.raises(SystemExit):
        main(["trace", str(small_artifact.path), str(tmp_path / "x.npy"), "--levels", "gpu"])


@pytest.mark.slow
@pytest.mark.verilator
def test_every_level_agrees_and_a_wrong_rtl_layer_is_found(
        small_artifact: Any, images: Any, trace_cache: Path, tmp_path: Path) -> None:
    trace = kiln.load(small_artifact.path).trace(images, cache=trace_cache)
    assert trace.levels == ("reference", "fixed", "hls", "rtl")
    assert set(trace.codes["rtl"]) == {"fc1", "relu1", "logits"}, trace.skipped
    assert trace.first_divergence() is None, trace.table()

    copy = _copy(small_artifact, tmp_path / "art")
    relu = copy / "rtl" / "kiln_relu1.v"
    text = relu.read_text()
    assert "y_1, y_0};" in text, "kiln_relu1.v no longer packs y_1, y_0 last"
    relu.write_text(text.replace("y_1, y_0};", "y_0, y_1};"))   # two outputs swapped
    broken = Runtime(Artifact.open(copy, check=False)).trace(
        images, levels=("fixed", "hls", "rtl"), cache=tmp_path / "cache")
    first = broken.first_divergence()
    assert first is not None, broken.table()
    assert first.layer == "relu1" and first.suspect == "rtl"


@pytest.mark.slow
@pytest.mark.verilator
def test_every_level_agrees_on_the_digits_cnn_io_stream(tmp_path: Path, images: Any) -> None:
    art = kiln.compile(str(Path(__file__).resolve().parents[2] / "models" / "digits_cnn.h5"),
                       tmp_path / "digits_cnn", io_type="io_stream")
    trace = kiln.load(art.path).trace(images.reshape(-1, 8, 8, 1), cache=tmp_path / "cache")
    assert trace.levels == ("reference", "fixed", "hls", "rtl")
    assert trace.skipped == {}, trace.skipped
    assert trace.first_divergence() is None, trace.table()
