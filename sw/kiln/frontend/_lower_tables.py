"""Lowering of hls4ml's table activations (softmax, sigmoid, tanh) into kiln IR nodes."""

from __future__ import annotations

from typing import Any

from kiln.errors import UnsupportedLayerError
from kiln.fixed import FixedType
from kiln.ir import Node


def lower_softmax(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType) -> Node:
    raise UnsupportedLayerError(f"Layer {layer.name!r}: softmax is not built yet")


def lower_lut(layer: Any, source: str, shape: tuple[int, ...], out_t: FixedType,
              function: str) -> Node:
    raise UnsupportedLayerError(f"Layer {layer.name!r}: {function} is not built yet")
