"""The Keras front end for CNNs: unsupported convolution settings are refused up front with
a KilnError that names the layer and the setting."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import KilnError
from kiln.frontend import check_layers


def _model(layer: Any, shape: tuple[int, ...]) -> Any:
    from tensorflow import keras

    inp = keras.Input(shape=shape)
    return keras.Model(inp, layer(inp))


@pytest.mark.parametrize(("make", "shape", "setting"), [
    (lambda k: k.layers.Conv2D(2, 3, dilation_rate=2, name="dil"), (8, 8, 1),
     "dilation_rate"),
    (lambda k: k.layers.Conv2D(4, 3, groups=2, name="grp"), (8, 8, 2), "groups=2"),
    (lambda k: k.layers.Conv1D(2, 3, padding="causal", name="causal"), (8, 2),
     "padding='causal'"),
    (lambda k: k.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dm"), (8, 8, 2),
     "depth_multiplier=2"),
])
def test_unsupported_setting_names_layer_and_setting(make: Any, shape: tuple[int, ...],
                                                     setting: str) -> None:
    from tensorflow import keras

    model = _model(make(keras), shape)
    with pytest.raises(KilnError) as info:
        check_layers(model, "io_stream")
    message = str(info.value)
    assert model.layers[-1].name in message and setting in message


def test_same_padding_and_pooling_are_accepted_in_io_stream() -> None:
    from tensorflow import keras

    inp = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.AveragePooling2D(2, name="avg")(x)
    out = keras.layers.Dense(3, name="fc")(keras.layers.Flatten(name="flat")(x))
    check_layers(keras.Model(inp, out), "io_stream")
    seq = keras.Input(shape=(8, 2))
    y = keras.layers.AveragePooling1D(2, name="avg1d")(seq)
    y = keras.layers.GlobalAveragePooling1D(name="gavg")(y)
    check_layers(keras.Model(seq, keras.layers.Dense(2, name="fc")(y)), "io_stream")


def test_conv_builds_in_both_io_types() -> None:
    from tensorflow import keras

    model = _model(keras.layers.Conv2D(2, 3, name="conv"), (8, 8, 1))
    check_layers(model, "io_parallel")
    check_layers(model, "io_stream")
