"""The Source dispatch: one place picks the front end, for a model to compile and for the
source an artifact saved (by its manifest's framework)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.compiler import BuildOptions
from kiln.errors import ArtifactError, KilnError
from kiln.frontend import KerasSource, TorchSource, open_source, source_type
from kiln.frontend._base import set_reuse_factors


@pytest.mark.parametrize("model, expected", [
    ("m.onnx", TorchSource), (Path("m.pt"), TorchSource), ("m.pth", TorchSource),
    ("m.h5", KerasSource), ("m.json", KerasSource), (object(), KerasSource),
])
def test_source_type(model: Any, expected: type) -> None:
    assert source_type(model) is expected


def test_every_framework_has_one_front_end() -> None:
    frameworks = [*KerasSource.FRAMEWORKS, *TorchSource.FRAMEWORKS]
    assert len(frameworks) == len(set(frameworks))
    assert (KerasSource.SAVED_AS, TorchSource.SAVED_AS) == ("source.h5", "source.onnx")


def test_unknown_framework_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"framework 'jax' is not one kiln reads \(qkeras, "
                       r"keras, brevitas, .*recompile"):
        open_source(tmp_path, "jax")


def test_keras_refuses_an_input_shape() -> None:
    with pytest.raises(KilnError, match="input_shape is for PyTorch/ONNX models"):
        KerasSource.load("m.h5", BuildOptions(input_shape=(64,)))


def test_reuse_factors_per_layer_reach_the_hls4ml_config() -> None:
    config: dict[str, Any] = {"LayerName": {"fc1": {"ReuseFactor": 1}, "fc2": {}}}
    set_reuse_factors(config, BuildOptions(reuse_factor={"fc2": 1}), "Model 'm'")
    assert config["LayerName"]["fc2"] == {"ReuseFactor": 1}
    with pytest.raises(KilnError, match=r"Model 'm': reuse_factor names layer\(s\) \['fc3'\] "
                       r"that the model does not have; its layers: fc1, fc2"):
        set_reuse_factors(config, BuildOptions(reuse_factor={"fc3": 1}), "Model 'm'")
