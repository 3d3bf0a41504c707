"""kiln's typed, frozen IR: the only model representation the back ends read."""

from __future__ import annotations

from kiln.ir._check import check_graph
from kiln.ir._nodes import (
    NODE_KINDS,
    POOL_OPS,
    Cast,
    Conv,
    Dense,
    Graph,
    Input,
    Lut,
    Node,
    Pad,
    Pool,
    Relu,
    Softmax,
    frozen_codes,
    spatial,
)
from kiln.ir._serialize import graph_from_dict, graph_to_dict

__all__ = [
    "NODE_KINDS",
    "POOL_OPS",
    "Cast",
    "Conv",
    "Dense",
    "Graph",
    "Input",
    "Lut",
    "Node",
    "Pad",
    "Pool",
    "Relu",
    "Softmax",
    "check_graph",
    "frozen_codes",
    "graph_from_dict",
    "graph_to_dict",
    "spatial",
]
