"""Convolution, pooling and zero padding in io_parallel (kiln.rtl._parallel_conv): one beat
per sample, each layer fully unrolled over the whole image.

Default: small kiln IR graphs (tests/cnn's, built as io_parallel) on Icarus == kiln.fixed,
Verilator lint, the reuse-factor refusals and the estimate. ``-m slow``: every such graph
on the Verilator emulator (300 inputs), and QKeras / Brevitas CNNs compiled io_parallel end
to end: RTL == HLS C-sim == kiln.fixed == the framework model on 300 inputs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.cnn.graphs import input_codes
from tests.cnn.test_cnn_stream_rtl import GRAPHS

from kiln.compiler._fit import DesignTooLargeError, check_fits
from kiln.errors import UnsupportedLayerError
from kiln.fixed import execute
from kiln.ir import Conv, Graph
from kiln.rtl import emit_rtl, estimate, write_rtl

UNFOLDED = sorted(name for name in GRAPHS if "folded" not in name)
# A few graphs that cover each emitter: conv (2D, stride, 1D + ReLU), depthwise, max and
# average pooling (a divide by 3 with a narrow accumulator), zero padding.
DEFAULT = ("conv2d_stride", "depthwise_pointwise", "avgpool1d_narrow", "maxpool1d_overlap",
           "same_conv2d")
SAMPLES = 300


def parallel(name: str) -> Graph:
    """tests/cnn's graph ``name`` as io_parallel."""
    return replace(GRAPHS[name](), io_type="io_parallel")


def _written(name: str, tmp_path: Path) -> tuple[Graph, Path]:
    graph = parallel(name)
    write_rtl(emit_rtl(graph), tmp_path / "rtl")
    return graph, tmp_path / "rtl"


@pytest.mark.icarus
@pytest.mark.parametrize("name", DEFAULT)
def test_parallel_layer_equals_fixed(name: str, icarus, tmp_path: Path) -> None:
    from kiln.sim import run_icarus

    graph, rtl = _written(name, tmp_path)
    x = input_codes(graph, 20, seed=200)
    want = execute(graph, torch.from_numpy(x))["output"].numpy()
    assert np.array_equal(run_icarus(rtl, x, tmp_path / "icarus"), want)


@pytest.mark.verilator
@pytest.mark.parametrize("name", DEFAULT)
def test_parallel_rtl_lints_clean(name: str, verilator, tmp_path: Path) -> None:
    _, rtl = _written(name, tmp_path)
    assert "%Warning" not in verilator.lint(rtl)


def test_parallel_metadata_is_one_beat_per_sample() -> None:
    meta = emit_rtl(parallel("cnn")).meta
    graph = parallel("cnn")
    assert (meta.in_beats, meta.out_beats, meta.ii) == (1, 1, 1)
    assert (meta.in_elems, meta.out_elems) == (graph.input.size, graph.output.size)
    assert meta.timing_exact


def test_folded_conv_is_refused_in_io_parallel() -> None:
    graph = parallel("conv2d")
    conv = graph.nodes[1]
    assert isinstance(conv, Conv)
    folded = replace(graph, nodes=(graph.nodes[0], replace(conv, reuse_factor=4)))
    with pytest.raises(UnsupportedLayerError, match=r"'conv1'.*reuse factor 4.*io_stream"):
        emit_rtl(folded)


def test_estimate_counts_every_output_pixel() -> None:
    """An io_parallel convolution costs its window Dense once per output pixel (no line
    buffer); io_stream builds it once."""
    stream, par = GRAPHS["conv2d"](), parallel("conv2d")
    conv = par.nodes[1]
    pixels = conv.shape[0] * conv.shape[1]
    one, all_ = estimate(stream)[conv.name], estimate(par)[conv.name]
    assert all_.lut4 == pytest.approx(one.lut4 * pixels)
    assert estimate(par)["total"].lut4 > 2 * estimate(stream)["total"].lut4


def test_a_large_parallel_cnn_is_refused_before_any_verilog() -> None:
    from tests.cnn.graphs import Chain

    big = replace(Chain((32, 32, 8), 3).conv(16, (3, 3)).graph(), io_type="io_parallel")
    with pytest.raises(DesignTooLargeError, match="io_type='io_stream'"):
        check_fits(big, "LFE5U-12F-6BG381C")
    check_fits(replace(big, io_type="io_stream"), "LFE5U-85F-6BG381C")  # one pixel's Dense: fits


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("name", UNFOLDED)
def test_parallel_emulator_equals_fixed(name: str, tmp_path: Path) -> None:
    from kiln.sim import Emulator

    graph, rtl = _written(name, tmp_path)
    x = input_codes(graph, SAMPLES, seed=201)
    want = execute(graph, torch.from_numpy(x))["output"].numpy()
    assert np.array_equal(Emulator.build(rtl, tmp_path / "cache").run(x).codes, want)


# ------------------------------------------------------------------ framework models, end to end


def _qkeras_cnn_2d(seed: int) -> Any:
    """QConv2D 'same' + ReLU, max pooling, depthwise conv, average pooling, flatten, QDense."""
    from qkeras import (
        QActivation,
        QConv2D,
        QDense,
        QDepthwiseConv2D,
        quantized_bits,
        quantized_relu,
    )
    from tensorflow import keras

    def q(bits: int, integer: int) -> Any:
        return quantized_bits(bits, integer, alpha=1)

    layers = keras.layers
    inp = keras.Input(shape=(9, 8, 2), name="x")
    x = QActivation(q(6, 2), name="input_q")(inp)
    x = QConv2D(3, 3, padding="same", kernel_quantizer=q(4, 0), bias_quantizer=q(4, 1),
                name="conv_same")(x)
    x = QActivation(quantized_relu(6, 3), name="relu1")(x)
    x = layers.MaxPooling2D(2, name="maxpool")(x)
    x = QDepthwiseConv2D(2, depthwise_quantizer=q(5, 1), bias_quantizer=q(4, 1),
                         name="depthwise")(x)
    x = QActivation(q(7, 3), name="act2")(x)
    x = layers.AveragePooling2D((1, 2), name="avgpool")(x)  # a divide by 2 is exact
    x = layers.Flatten(name="flatten")(x)
    x = QDense(4, kernel_quantizer=q(4, 0), bias_quantizer=q(4, 1), name="fc")(x)
    model = keras.Model(inp, x, name="parallel_cnn2d")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-1.5, 1.5, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _qkeras_cnn_1d(seed: int) -> Any:
    """QConv1D 'valid' stride 2 + ReLU, QConv1D 'same', global max pooling (the output)."""
    from qkeras import QActivation, QConv1D, quantized_bits, quantized_relu
    from tensorflow import keras

    def q(bits: int, integer: int) -> Any:
        return quantized_bits(bits, integer, alpha=1)

    inp = keras.Input(shape=(13, 3), name="x")
    x = QActivation(q(5, 1), name="input_q")(inp)
    x = QConv1D(4, 3, strides=2, kernel_quantizer=q(4, 0), bias_quantizer=q(4, 1),
                name="conv_stride")(x)
    x = QActivation(quantized_relu(5, 2), name="relu1")(x)
    x = QConv1D(2, 4, padding="same", kernel_quantizer=q(3, 0), bias_quantizer=q(3, 0),
                name="conv_same")(x)
    x = QActivation(q(6, 2), name="act2")(x)
    x = keras.layers.GlobalMaxPooling1D(name="gmax")(x)
    model = keras.Model(inp, x, name="parallel_cnn1d")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-1.5, 1.5, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _check(model: Any, framework: str, tmp_path: Path, seed: int, **options: Any) -> None:
    """Compile io_parallel; RTL (under random valid/ready) == HLS C-sim == kiln.fixed == the
    framework model on every one of SAMPLES inputs."""
    from tests.fuzz._check import check_model, compile_model
    from tests.fuzz._generate import FuzzModel

    fuzz = FuzzModel(seed, framework, "cnn", model, {"io_type": "io_parallel", **options},
                     True, f"{framework} io_parallel CNN")
    art, _ = compile_model(fuzz, tmp_path)
    assert art.manifest.reference_bit_exact
    result = check_model(fuzz, art, SAMPLES)
    assert (result.rtl_vs_hls, result.rtl_vs_cpu, result.framework_mismatches) == (0, 0, 0), \
        result
    assert result.ii == 1


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("build", [_qkeras_cnn_2d, _qkeras_cnn_1d])
def test_qkeras_cnn_in_io_parallel_is_bit_exact(build: Any, tmp_path: Path) -> None:
    _check(build(7), "qkeras", tmp_path, 7)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("seed", [3, 11])
def test_random_cnns_in_io_parallel_are_bit_exact(seed: int, tmp_path: Path) -> None:
    """The fuzz suite's random QKeras and Brevitas CNNs ('same' and 'valid' convs, max
    pooling), compiled io_parallel with reuse factor 1."""
    from tests.fuzz._generate import fuzz_model

    model = next(m for s in range(seed, seed + 200) if (m := fuzz_model(s)).topology != "mlp"
                 and m.framework == ("qkeras" if seed == 3 else "brevitas"))
    options = {k: v for k, v in model.options.items() if k not in ("io_type", "reuse_factor")}
    _check(model.model, model.framework, tmp_path, model.seed, **options)


def test_folded_conv_refused_by_the_frontend(tmp_path: Path) -> None:
    import kiln

    model = _qkeras_cnn_1d(0)
    with pytest.raises(UnsupportedLayerError, match=r"'conv_stride'.*reuse factor 2.*io_stream"):
        kiln.compile(model, tmp_path / "art", io_type="io_parallel", reuse_factor=2)
