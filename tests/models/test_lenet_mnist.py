"""The QKeras LeNet recipe (models/lenet_mnist.py): layer shapes and quantizers of the built
model (no training), the MNIST split, and (slow) the shipped .h5 compiled for the ULX3S 85F
and verified on the test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models import lenet_mnist
from models.data import mnist_split


def _shapes(model) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}


def test_lenet_layer_shapes_and_quantizers() -> None:
    model = lenet_mnist.build_model()
    assert _shapes(model) == {
        "image": (28, 28, 1), "input_q": (28, 28, 1), "conv1": (24, 24, 20),
        "relu1": (24, 24, 20), "pool1": (12, 12, 20), "conv2": (8, 8, 50),
        "relu2": (8, 8, 50), "pool2": (4, 4, 50), "flatten": (800,), "fc1": (500,),
        "relu3": (500,), "logits": (10,)}
    assert model.count_params() == 520 + 25_050 + 400_500 + 5_010
    for name in ("conv1", "conv2", "fc1", "logits"):
        layer = model.get_layer(name)
        for quantizer in (layer.kernel_quantizer_internal, layer.bias_quantizer_internal):
            assert (quantizer.bits, quantizer.integer, quantizer.alpha) == (6, 0, 1)
    for name in ("relu1", "relu2", "relu3"):
        relu = model.get_layer(name).quantizer
        assert (type(relu).__name__, relu.bits, relu.integer) == ("quantized_relu", 6, 2)
    pixels = model.get_layer("input_q").quantizer
    assert (pixels.bits, pixels.integer, pixels.keep_negative) == (8, 0, False)


def test_lenet_sizes_are_parameters() -> None:
    model = lenet_mnist.build_model(filters=(4, 6), kernel=3, hidden=16, bits=4, side=14)
    shapes = _shapes(model)
    assert (shapes["conv1"], shapes["conv2"], shapes["flatten"], shapes["fc1"]) == (
        (12, 12, 4), (4, 4, 6), (24,), (16,))
    assert model.get_layer("fc1").kernel_quantizer_internal.bits == 4
    float_model = lenet_mnist.build_model(quantized=False, filters=(4, 6), kernel=3,
                                          hidden=16, side=14)
    assert _shapes(float_model)["flatten"] == (24,)
    assert not any("quantizer" in vars(layer) for layer in float_model.layers)


def test_mnist_split_is_fixed_stratified_and_exact() -> None:
    x_tr, x_te, y_tr, y_te = mnist_split()
    assert (x_tr.shape, x_te.shape) == ((4000, 28, 28, 1), (1000, 28, 28, 1))
    assert np.bincount(y_te).tolist() == [100] * 10
    assert np.array_equal(x_te * 256, np.round(x_te * 256)) and x_te.max() < 1.0
    again = mnist_split()[1]
    assert np.array_equal(x_te, again)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_shipped_lenet_fits_the_ulx3s_and_is_bit_exact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import kiln
    from kiln.verify import verify

    path = lenet_mnist.HERE / f"{lenet_mnist.NAME}.h5"
    if not path.is_file():
        pytest.skip(f"{path} not trained (python -m models.lenet_mnist)")
    art = kiln.compile(path, tmp_path / "lenet", io_type="io_stream", reuse_factor="auto",
                       board="ulx3s-85f")
    _, x_te, _, y_te = mnist_split()
    report = verify(art.path, x=x_te, labels=y_te, protocol=False)
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    metrics = json.loads(path.with_suffix(".metrics.json").read_text())
    assert report.accuracy == metrics["quantized_accuracy"]
