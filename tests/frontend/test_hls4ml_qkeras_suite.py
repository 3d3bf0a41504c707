"""hls4ml's QKeras test suite re-created as kiln tests (``_qkeras_suite``): every case either
kiln.fixed == HLS C-sim == QKeras, or approximate where QKeras leaves a type undefined (and
the manifest does not claim equality), or refused with a KilnError that names the fix; never
wrong. The whole suite (80 cases, about 15 s each with a C simulation) is ``slow``; a few
representative ones run by default. Also the QKeras activation types themselves, checked
against QKeras on every code of a dense grid (no conversion, milliseconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.frontend._qkeras_suite import CASES, run_case

from kiln.fixed import from_float, to_float
from kiln.frontend._keras import qkeras_activation_type


def _check(name: str, input_quantizer: bool, tmp_path: Path) -> str:
    """Run one case and assert the suite's promise; its status."""
    outcome = run_case(CASES[name], input_quantizer, tmp_path)
    assert outcome.status != "wrong", outcome.detail
    if outcome.status == "refused":
        assert "Fix:" in outcome.detail or "fix" in outcome.detail.lower(), outcome.detail
    if outcome.status == "approximate":
        assert not CASES[name].exact and not outcome.claimed_exact, outcome.detail
    return outcome.status


@pytest.mark.parametrize("name, input_quantizer", [
    ("dense_relu_alpha1", False),  # hls4ml's bit-exact Dense -> quantized_relu test
    ("btnn_3", True),  # ternary(alpha='auto') kernel, BatchNormalization, binary()
    ("dense_relu_auto_po2", False),  # quantized_bits(alpha='auto_po2') kernel
    ("quantizer_quantized_relu(4, 2)", False),  # only a QActivation: broke hls4ml's chain
])
def test_representative_cases_are_bit_exact(name: str, input_quantizer: bool,
                                            tmp_path: Path) -> None:
    assert _check(name, input_quantizer, tmp_path) == "bit-exact"


@pytest.mark.parametrize("name, match", [
    ("qlstm", r"QLSTM.*recurrent layers"),
])
def test_refusals_name_every_layer_and_its_fix(name: str, match: str, tmp_path: Path) -> None:
    """Refused before any conversion (so no C simulation is built), every layer at once."""
    outcome = run_case(CASES[name], False, tmp_path)
    assert outcome.status == "refused", outcome.detail
    assert outcome.detail.startswith("UnsupportedLayerError"), outcome.detail
    import re

    assert re.search(match, outcome.detail), outcome.detail


@pytest.mark.slow
@pytest.mark.parametrize("input_quantizer", [False, True], ids=["bare", "input_q"])
@pytest.mark.parametrize("name", list(CASES))
def test_hls4ml_qkeras_suite(name: str, input_quantizer: bool, tmp_path: Path) -> None:
    _check(name, input_quantizer, tmp_path)


@pytest.mark.parametrize("quantizer", [
    "quantized_bits(3, 2)", "quantized_bits(3, 3)", "quantized_bits(4, 0)",
    "quantized_bits(8, 4)", "quantized_bits(4, 1, keep_negative=False)",
    "quantized_bits(3, 3, keep_negative=False)", "quantized_bits(5, 2, symmetric=True)",
    "quantized_relu(4)", "quantized_relu(4, 4)", "quantized_relu(6, 2)", "quantized_relu(3, 5)",
])
def test_activation_types_equal_qkeras_on_a_dense_grid(quantizer: str) -> None:
    """``qkeras_activation_type`` gives the grid, rounding (half to even) and saturation
    QKeras computes, including the cases hls4ml 1.3 mistypes (no fractional bits: ap_int;
    keep_negative=False: signed; symmetric: SAT), on every multiple of 2^-6 in [-40, 40)."""
    import qkeras

    q: Any = eval(quantizer, vars(qkeras))
    t = qkeras_activation_type(q)
    assert t is not None
    x = np.arange(-40 * 64, 40 * 64) / 64.0
    want = np.asarray(q(x.astype(np.float32)), dtype=np.float64)
    got = to_float(from_float(torch.from_numpy(x), t), t).numpy()
    assert np.array_equal(got, want), (t, x[got != want][:5], got[got != want][:5],
                                       want[got != want][:5])


def test_activation_types_leave_other_quantizers_to_hls4ml() -> None:
    """Quantizers that are not one fixed-point cast get no type from kiln (they are tables,
    scaled, or refused by the check)."""
    import qkeras

    for quantizer in (qkeras.quantized_bits(4, 0, alpha="auto_po2"),
                      qkeras.quantized_relu(4, negative_slope=0.5),
                      qkeras.quantized_sigmoid(7, use_real_sigmoid=True),
                      qkeras.quantized_bits(1, 0)):
        assert qkeras_activation_type(quantizer) is None, quantizer


@pytest.mark.parametrize("quantizer", ["quantized_bits(4, 1, symmetric=True)",
                                       "quantized_bits(3, 3)", "quantized_relu(3, 4)"])
def test_corrected_types_reach_the_graph_after_a_dense(quantizer: str, tmp_path: Path) -> None:
    """The corrected type holds where hls4ml merges the activation into the QDense before
    it: kiln.fixed == QKeras on 1,000 inputs over the whole input type."""
    import qkeras
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions
    from kiln.fixed import execute

    inp = keras.Input((4,), name="x")
    x = qkeras.QActivation(qkeras.quantized_bits(6, 2, alpha=1), name="input_q")(inp)
    x = qkeras.QDense(3, kernel_quantizer=qkeras.quantized_bits(5, 2, alpha=1),
                      bias_quantizer=qkeras.quantized_bits(5, 2, alpha=1), name="fc")(x)
    model = keras.Model(inp, qkeras.QActivation(eval(quantizer, vars(qkeras)), name="q")(x))
    rng = np.random.default_rng(5)
    model.set_weights([rng.uniform(-4, 4, w.shape) for w in model.get_weights()])
    options = BuildOptions()
    graph = frontend.lower(frontend.convert(model, tmp_path, options), "m", options)
    assert graph.output.out_type == qkeras_activation_type(model.get_layer("q").quantizer)
    t = graph.input.out_type
    codes = torch.from_numpy(rng.integers(t.min_code, t.max_code + 1, (1000, 4)))
    got = to_float(execute(graph, codes)["output"], graph.output.out_type).numpy()
    want = model.predict(to_float(codes, t).numpy().astype(np.float32), verbose=0)
    assert np.array_equal(got, want)


@pytest.mark.slow
def test_qconv2d_batchnorm_with_statistics(tmp_path: Path) -> None:
    """QConv2DBatchnorm with random kernel and batch-norm statistics (hls4ml's test uses
    ones and the initial statistics): kiln.fixed == HLS C-sim on every sample; QKeras folds
    in float32 and hls4ml in float64, so equality with QKeras is measured, not claimed."""
    import qkeras
    from tensorflow import keras

    from kiln import frontend, hls
    from kiln.compiler import BuildOptions
    from kiln.fixed import execute

    inp = keras.Input((6, 6, 2), name="x")
    x = qkeras.QActivation(qkeras.quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    model = keras.Model(inp, qkeras.QConv2DBatchnorm(
        3, (3, 3), kernel_quantizer="quantized_bits(6, 1, alpha=1)",
        bias_quantizer="quantized_bits(8, 2, alpha=1)", activation="quantized_relu(6, 2)",
        name="qconv2dbn")(x))
    rng = np.random.default_rng(6)
    model.set_weights([rng.uniform(0.5, 2.0, w.shape) if "variance" in v.name
                       else rng.uniform(-1, 1, w.shape)
                       for v, w in zip(model.weights, model.get_weights(), strict=True)])
    options = BuildOptions(io_type="io_stream")
    assert not frontend.reference_is_bit_exact(model, options)
    model_graph = frontend.convert(model, tmp_path, options)
    graph = frontend.lower(model_graph, "bn", options)
    t, out_t = graph.input.out_type, graph.output.out_type
    codes = torch.from_numpy(rng.integers(t.min_code, t.max_code + 1, (500, 6, 6, 2)))
    got = execute(graph, codes)["output"].numpy().reshape(500, -1)
    simulation = hls.CSim(hls.write_and_compile(model_graph), t, out_t, graph.input.size,
                          graph.output.size)
    assert np.array_equal(got, simulation.run(codes.numpy()).reshape(500, -1))
    want = model.predict(to_float(codes, t).numpy().astype(np.float32), verbose=0)
    lsb = np.abs(to_float(torch.from_numpy(got), out_t).numpy() - want.reshape(500, -1))
    print(f"QConv2DBatchnorm: {int((lsb > 0).any(axis=1).sum())}/500 samples differ from "
          f"QKeras, max {lsb.max() / out_t.lsb:.0f} LSB")
    assert lsb.max() <= 2 * out_t.lsb
