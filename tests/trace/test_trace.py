"""kiln.trace's Trace: agreement per layer, the first divergence, the table; and the HLS
project instrumentation (text in, text out)."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.ir import FixedType
from kiln.trace import Layer, Trace
from kiln.trace._hls import instrument, traced_calls

T = FixedType(8, 4)
LAYERS = (Layer("fc1", "dense", T, (4,)), Layer("relu1", "relu", T, (4,)),
          Layer("logits", "dense", T, (2,)))


def _codes(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {la.name: rng.integers(-128, 128, size=(5, la.size)) for la in LAYERS}


def _trace(levels: dict[str, dict[str, np.ndarray]], **kw: object) -> Trace:
    return Trace("m", LAYERS, levels, 5, **kw)  # type: ignore[arg-type]


def test_agreeing_levels_have_no_divergence() -> None:
    codes = _codes()
    trace = _trace({"fixed": codes, "hls": dict(codes), "rtl": dict(codes)})
    assert trace.levels == ("fixed", "hls", "rtl")
    assert trace.first_divergence() is None
    assert "first divergence: none" in trace.table()
    assert trace.to_dict()["first_divergence"] is None


def test_first_divergence_names_the_layer_sample_and_suspect() -> None:
    good = _codes()
    bad = {k: v.copy() for k, v in good.items()}
    bad["relu1"][3, 2] += 5        # the corrupted layer ...
    bad["logits"][0, 0] += 1       # ... and one after it: the first one is reported
    trace = _trace({"fixed": good, "hls": bad, "rtl": dict(good)})
    first = trace.first_divergence()
    assert first is not None
    assert (first.layer, first.levels, first.sample) == ("relu1", ("fixed", "hls"), 3)
    assert (first.max_lsb, first.mismatched, first.suspect) == (5.0, 1, "hls")
    assert "relu1" in str(first) and "hls disagrees" in str(first)
    assert "NO: fixed!=hls" in trace.table()


def test_a_level_missing_a_layer_is_compared_where_it_has_it() -> None:
    good = _codes()
    partial = {"fc1": good["fc1"], "logits": good["logits"] + 1}
    trace = _trace({"fixed": good, "rtl": partial}, skipped={"rtl": "layers not observed"})
    first = trace.first_divergence()
    assert first is not None and first.layer == "logits" and first.suspect is None
    assert "rtl: layers not observed" in trace.table()


def test_a_float_reference_is_measured_in_lsbs_not_required_equal() -> None:
    good = _codes()
    floats = {k: v * T.lsb + 0.3 * T.lsb for k, v in good.items()}
    ref = {k: v + 1 for k, v in good.items()}
    trace = _trace({"reference": ref, "fixed": good}, reference_values=floats,
                   reference_exact=False)
    assert trace.first_divergence() is None
    assert trace.reference_lsb("fc1") == pytest.approx(0.3)
    assert trace.reference_drift() is None
    assert trace.reference_drift(0.25) == ("fc1", pytest.approx(0.3))
    assert "a float model, compared in LSBs" in trace.table()
    exact = _trace({"reference": ref, "fixed": good}, reference_values=floats)
    first = exact.first_divergence()
    assert first is not None and first.levels == ("reference", "fixed")


PROJECT = """\
void kiln_model(
    hls::stream<image_t> &image,
    hls::stream<result_t> &layer11_out
) {
    hls::stream<conv1_t> layer3_out("layer3_out");
    fc1_t layer5_out[32];
    auto& layer10_out = layer5_out;
    nnet::conv_2d_cl<image_t, conv1_t, config3>(image, layer3_out, w3, b3); // conv1

    nnet::relu<conv1_t, fc1_t, relu_config5>(layer3_out, layer5_out); // relu1

    nnet::dense<fc1_t, result_t, config11>(layer10_out, layer11_out, w11, b11); // logits

}
"""


def test_instrument_adds_hls4ml_save_layer_output_after_each_call() -> None:
    calls = traced_calls(PROJECT)
    assert [(c.name, c.var, c.type) for c in calls] == [
        ("conv1", "layer3_out", "conv1_t"), ("relu1", "layer5_out", "fc1_t"),
        ("logits", "layer11_out", "result_t")]
    source, traced = instrument(PROJECT, {"conv1": 288, "logits": 10})
    assert traced == {"logits": 10, "conv1": 288}
    assert 'nnet::save_layer_output<conv1_t>(layer3_out, "conv1", 288);' in source
    assert 'nnet::save_layer_output<result_t>(layer11_out, "logits", 10);' in source
    assert '"relu1"' not in source.split("// relu1")[1].split("// logits")[0]
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("// conv1"))
    assert lines[at + 1:at + 4] == [
        "#ifndef __SYNTHESIS__",
        '    nnet::save_layer_output<conv1_t>(layer3_out, "conv1", 288);', "#endif"]
