"""kiln.fixed equals hls4ml's io_stream C simulation on conv settings the shipped models do
not cover: 'same' padding in 2D, stride 2, SeparableConv2D (hls4ml splits it into depthwise
and pointwise), global max pooling, average and global average pooling, a folded
BatchNormalization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch


def _lower_and_simulate(model: Any, precision: str, tmp_path: Path, seed: int
                        ) -> tuple[Any, np.ndarray, np.ndarray]:
    """The model's kiln graph, 300 random input codes, and hls4ml's C simulation of them."""
    from kiln import frontend, hls
    from kiln.compiler import BuildOptions

    options = BuildOptions(io_type="io_stream", precision=precision)
    converted = frontend.convert(model, tmp_path / "hls", options)
    graph = frontend.lower(converted, "small", options)
    csim = hls.CSim(hls.write_and_compile(converted), graph.input.out_type,
                    graph.output.out_type, graph.input.size, graph.output.size)
    t = graph.input.out_type
    codes = np.random.default_rng(seed).integers(t.min_code, t.max_code + 1,
                                                 size=(300, graph.input.size))
    return graph, codes, csim.run(codes)


@pytest.mark.slow
def test_small_keras_cnn_equals_hls_csim(tmp_path: Path) -> None:
    from tensorflow import keras

    from kiln.fixed import execute

    keras.utils.set_random_seed(5)
    inp = keras.Input(shape=(7, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="same")(inp)
    x = keras.layers.Conv2D(4, 2, strides=2, name="stride2")(x)
    x = keras.layers.SeparableConv2D(3, 2, activation="relu", name="sep")(x)
    x = keras.layers.GlobalMaxPooling2D(name="gmax")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="fc")(x))
    graph, codes, want = _lower_and_simulate(model, "fixed<12,5>", tmp_path, seed=0)
    assert np.array_equal(execute(graph, torch.from_numpy(codes))["output"].numpy(), want)
    assert [n.kind for n in graph.nodes] == ["input", "pad", "conv", "relu", "conv", "conv",
                                             "conv", "relu", "pool", "dense"]


def _avg_model_2d() -> object:
    from tensorflow import keras

    inp = keras.Input(shape=(8, 8, 2))
    x = keras.layers.Conv2D(3, 2, name="conv")(inp)
    bn = keras.layers.BatchNormalization(name="bn")  # hls4ml folds it into the conv
    x = keras.layers.Activation("relu", name="relu")(bn(x))
    bn.set_weights([np.array([1.5, 0.7, 1.2]), np.array([0.2, -0.1, 0.3]),
                    np.array([0.1, -0.2, 0.0]), np.array([2.0, 0.5, 1.0])])
    x = keras.layers.AveragePooling2D(2, name="avg")(x)
    x = keras.layers.Conv2D(3, 1, name="mix")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gavg")(x)
    return keras.Model(inp, keras.layers.Dense(3, name="fc")(x))


def _avg_model_1d() -> object:
    from tensorflow import keras

    inp = keras.Input(shape=(11, 2))
    x = keras.layers.Conv1D(3, 2, name="conv")(inp)
    x = keras.layers.AveragePooling1D(3, strides=2, name="avg3")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gavg")(x)
    return keras.Model(inp, keras.layers.Dense(2, name="fc")(x))


@pytest.mark.slow
@pytest.mark.icarus
@pytest.mark.parametrize(("make", "precision"), [(_avg_model_2d, "fixed<12,5>"),
                                                 (_avg_model_1d, "fixed<10,4,RND>")])
def test_average_pooling_equals_hls_csim(make: object, precision: str, icarus,
                                         tmp_path: Path) -> None:
    """Average and global average pooling (divides by 4, 9, 3 and 4 pixels; signed sums
    that truncate toward zero), and a BatchNormalization folded into its conv, equal
    hls4ml's C simulation in kiln.fixed and in the RTL."""
    from tensorflow import keras

    from kiln.fixed import execute
    from kiln.rtl import emit_rtl, write_rtl
    from kiln.sim import run_icarus

    keras.utils.set_random_seed(6)
    model = make()  # type: ignore[operator]
    graph, codes, want = _lower_and_simulate(model, precision, tmp_path, seed=1)
    assert [n.op for n in graph.nodes if n.kind == "pool"] == ["average", "average"]
    assert len(np.unique(want)) > 20  # outputs that vary, not a constant
    assert np.array_equal(execute(graph, torch.from_numpy(codes))["output"].numpy(), want)
    write_rtl(emit_rtl(graph), tmp_path / "rtl")
    assert np.array_equal(run_icarus(tmp_path / "rtl", codes[:40], tmp_path / "icarus"),
                          want[:40])
