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


def test_a_level_that_cannot_run_is_skipped_with_why(small_artifact: Any, images: Any,
                                                    tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the traced builds would go")
    trace = kiln.load(small_artifact.path).trace(images, levels=("fixed", "hls"),
                                                 cache=blocked)
    assert trace.levels == ("fixed",)
    assert trace.skipped["hls"].startswith("not traced:")
    assert "hls: not traced" in trace.table() and trace.first_divergence() is None


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
    assert {"relu1", "logits"} <= set(trace.codes["rtl"]), trace.skipped
    assert trace.first_divergence() is None, trace.table()

    copy = _copy(small_artifact, tmp_path / "art")
    top = copy / "rtl" / "kiln_top.v"   # logits' output stream gets its lowest bit flipped
    text = top.read_text()
    declared = re.search(r"wire \[(\d+):0\] logits_y;", text)
    assert declared and ".y(logits_y)" in text, "kiln_top no longer names logits_y"
    top.write_text(text.replace(".y(logits_y)", ".y(logits_raw)").replace(
        declared[0], f"{declared[0]}\n  wire [{declared[1]}:0] logits_raw;\n"
        f"  assign logits_y = logits_raw ^ {int(declared[1]) + 1}'d1;"))
    broken = Runtime(Artifact.open(copy, check=False)).trace(
        images, levels=("fixed", "hls", "rtl"), cache=tmp_path / "cache")
    first = broken.first_divergence()
    assert first is not None, broken.table()
    assert first.layer == "logits" and first.suspect == "rtl" and first.max_lsb == 1


@pytest.mark.slow
@pytest.mark.verilator
def test_every_level_agrees_on_the_digits_cnn_io_stream(tmp_path: Path, images: Any) -> None:
    art = kiln.compile(str(Path(__file__).resolve().parents[2] / "models" / "digits_cnn.h5"),
                       tmp_path / "digits_cnn", io_type="io_stream")
    trace = kiln.load(art.path).trace(images.reshape(-1, 8, 8, 1), cache=tmp_path / "cache")
    assert trace.levels == ("reference", "fixed", "hls", "rtl")
    assert {"relu1", "pool1", "relu2", "logits"} <= set(trace.codes["rtl"]), trace.skipped
    # a convolution whose ReLU kiln.rtl builds into its stage has no stream of its own
    assert all("built into one stage" in part for part in
               trace.skipped.get("rtl", "layers not observed: built into one stage")
               .split(": ", 1)[1].split("; ")), trace.skipped
    assert trace.first_divergence() is None, trace.table()


def _chain(*nodes: tuple[str, str, str]) -> Any:
    from kiln.ir import FixedType, Graph, Input, Relu

    t = FixedType(8, 4)
    made: list[Any] = [Input(name="x", source="", shape=(4,), out_type=t)]
    for name, kind, source in nodes:
        cls = {"dense": Dense, "relu": Relu}[kind]
        made.append(cls(name=name, source=source, shape=(4,), out_type=t))
    return Graph("g", tuple(made))


def test_onnx_tensors_follow_the_bias_add_and_type_quants() -> None:
    from onnx import helper

    from kiln.trace._levels import _onnx_tensors

    node = helper.make_node
    model = helper.make_model(helper.make_graph([
        node("Quant", ["x", "s", "z", "b"], ["q0"], name="Quant_0"),
        node("MatMul", ["q0", "w"], ["m0"], name="MatMul_0"),
        node("Add", ["m0", "bias"], ["a0"], name="Add_0"),
        node("Relu", ["a0"], ["r0"], name="Relu_0"),
        node("Quant", ["r0", "s", "z", "b"], ["q7"], name="Quant_7"),
        node("MatMul", ["q7", "w"], ["m1"], name="MatMul_1"),
        node("Add", ["m1", "bias"], ["y"], name="Add_1"),
    ], "g", [], []))
    graph = _chain(("Dense_MatMul_0", "dense", "x"), ("Relu_0", "relu", "Dense_MatMul_0"),
                   ("Dense_MatMul_1", "dense", "Relu_0"))
    assert _onnx_tensors(model, graph) == {"Dense_MatMul_0": "a0", "Relu_0": "q7",
                                           "Dense_MatMul_1": "y"}


def test_keras_layers_map_to_the_node_after_a_split_activation() -> None:
    from types import SimpleNamespace

    from kiln.trace._levels import _keras_outputs

    model = SimpleNamespace(layers=[SimpleNamespace(name=n) for n in ("x", "fc1", "fc2")])
    graph = _chain(("fc1", "dense", "x"), ("fc1_relu", "relu", "fc1"), ("fc2", "dense", "fc1_relu"))
    assert _keras_outputs(model, graph) == {"fc1_relu": "fc1", "fc2": "fc2"}


@pytest.mark.slow
def test_a_brevitas_models_qonnx_layers_agree_with_kiln_fixed(tmp_path: Path,
                                                               images: Any) -> None:
    art = kiln.compile(str(Path(__file__).resolve().parents[2] / "models" /
                           "digits_mlp_brevitas.onnx"), tmp_path / "brevitas")
    trace = kiln.load(art.path).trace(images, levels=("reference", "fixed"))
    assert set(trace.codes["reference"]) == {la.name for la in trace.layers}, trace.skipped
    assert trace.first_divergence() is None, trace.table()
