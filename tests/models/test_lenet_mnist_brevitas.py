"""The Brevitas LeNet recipe (models/lenet_mnist_brevitas.py): layer shapes and quantizers of
the built model (no training), and the sizes as parameters."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models import lenet_mnist_brevitas as recipe


def _shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape (without the batch) of every named child of ``model`` on ``x``."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [child.register_forward_hook(
        lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, child in model.named_children()]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


def test_lenet_layer_shapes_and_quantizers() -> None:
    model = recipe.build_model()
    assert _shapes(model, torch.zeros(2, 1, 28, 28)) == {
        "input_q": (1, 28, 28), "conv1": (20, 24, 24), "relu1": (20, 24, 24),
        "pool1": (20, 12, 12), "conv2": (50, 8, 8), "relu2": (50, 8, 8), "pool2": (50, 4, 4),
        "fc1": (500,), "relu3": (500,), "logits": (10,)}
    assert sum(p.numel() for name, p in model.named_parameters()
               if name.endswith((".weight", ".bias"))) == 520 + 25_050 + 400_500 + 5_010
    for layer in (model.conv1, model.conv2, model.fc1, model.logits):
        assert int(layer.quant_weight().bit_width) == 6
    for relu in (model.relu1, model.relu2, model.relu3):
        assert int(relu.act_quant.bit_width()) == 6
    pixels = model.input_q(torch.arange(256.0).reshape(1, 1, 16, 16) / 256)
    assert (int(pixels.bit_width), float(pixels.scale)) == (8, 1 / 256)
    assert torch.equal(pixels.value, torch.arange(256.0).reshape(1, 1, 16, 16) / 256)


def test_lenet_sizes_are_parameters() -> None:
    model = recipe.build_model(filters=(4, 6), kernel=3, hidden=16, bits=4, side=14)
    shapes = _shapes(model, torch.zeros(1, 1, 14, 14))
    assert (shapes["conv1"], shapes["conv2"], shapes["fc1"]) == ((4, 12, 12), (6, 4, 4), (16,))
    assert int(model.fc1.quant_weight().bit_width) == 4
    float_model = recipe.build_model(quantized=False, filters=(4, 6), kernel=3, hidden=16,
                                     side=14)
    assert float_model(torch.zeros(1, 1, 14, 14)).shape == (1, 10)


def test_images_are_channels_first() -> None:
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 1)
    assert np.array_equal(recipe.images(x)[:, 0], x[..., 0])
