"""kiln.fixed equals hls4ml's io_stream C simulation on conv settings the shipped models do
not cover: 'same' padding in 2D, stride 2, SeparableConv2D (hls4ml splits it into depthwise
and pointwise), global max pooling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.mark.slow
def test_small_keras_cnn_equals_hls_csim(tmp_path: Path) -> None:
    from tensorflow import keras

    from kiln import frontend, hls
    from kiln.fixed import execute

    keras.utils.set_random_seed(5)
    inp = keras.Input(shape=(7, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="same")(inp)
    x = keras.layers.Conv2D(4, 2, strides=2, name="stride2")(x)
    x = keras.layers.SeparableConv2D(3, 2, activation="relu", name="sep")(x)
    x = keras.layers.GlobalMaxPooling2D(name="gmax")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="fc")(x))
    converted = frontend.convert(model, tmp_path / "hls", "io_stream", 1,
                                 precision="fixed<12,5>")
    graph = frontend.lower(converted, "small", "io_stream", 1)
    csim = hls.CSim(hls.write_and_compile(converted), graph.input.out_type,
                    graph.output.out_type, graph.input.size, graph.output.size)
    t = graph.input.out_type
    codes = np.random.default_rng(0).integers(t.min_code, t.max_code + 1,
                                              size=(300, graph.input.size))
    want = csim.run(codes)
    assert np.array_equal(execute(graph, torch.from_numpy(codes))["output"].numpy(), want)
    assert [n.kind for n in graph.nodes] == ["input", "pad", "conv", "relu", "conv", "conv",
                                             "conv", "relu", "pool", "dense"]
