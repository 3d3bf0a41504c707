"""Refuse a model whose weights hold NaN or infinity before anything converts it: they have no
fixed-point code (hls4ml would make NaN a 0), so the hardware could not equal the model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from kiln.errors import ModelLoadError

S = TypeVar("S")


def check_finite(source: S) -> S:
    """Return ``source`` (a :class:`~kiln.frontend.Source`) if every weight is finite.

    Raises:
        ModelLoadError: naming the first non-finite weight by layer, tensor and index, and how
            many there are.
    """
    model: Any = getattr(source, "model", None)
    for layer, tensor, values in _tensors(model):
        bad = ~np.isfinite(values)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            value = values[index]
            raise ModelLoadError(
                f"Layer {layer!r}, tensor {tensor!r} holds {value} at index {index} "
                f"({int(bad.sum())} of its {values.size} values are NaN or infinite). NaN and "
                "infinity have no fixed-point code, so kiln cannot build this model; fix the "
                "training (or clean the weights, e.g. torch.nan_to_num) and save it again.")
    return source


def _tensors(model: Any) -> Iterator[tuple[str, str, NDArray[Any]]]:
    """(layer, tensor, float values) of every floating-point weight ``model`` holds: a Keras
    model, a torch (or TorchScript) module, or an ONNX ModelProto / qonnx ModelWrapper."""
    if hasattr(model, "state_dict"):
        for name, value in model.state_dict().items():
            layer, _, tensor = name.rpartition(".")
            if not hasattr(value, "is_floating_point"):
                continue  # torch-quantized packed parameters: the layer check refuses them
            if value.is_floating_point():
                yield layer or name, tensor, value.detach().cpu().double().numpy()
    elif hasattr(model, "get_weights") and hasattr(model, "weights"):
        for variable in model.weights:
            layer, _, tensor = variable.name.rpartition("/")
            values = np.asarray(variable.numpy())
            if values.dtype.kind == "f":
                yield layer or variable.name, tensor.split(":")[0], values
    else:
        graph = getattr(getattr(model, "model", model), "graph", None)
        if graph is None:
            return
        from onnx import numpy_helper

        for initializer in graph.initializer:
            values = numpy_helper.to_array(initializer)
            if values.dtype.kind == "f":
                yield "initializer", initializer.name, values
