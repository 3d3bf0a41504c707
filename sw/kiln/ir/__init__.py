"""kiln's typed, frozen IR: the fixed-point type and the layer nodes, the only model
representation the back ends read. Imports neither torch nor hls4ml."""

from __future__ import annotations

from kiln.ir._check import check_graph
from kiln.ir._nodes import (
    DEFAULT_ADDER_LEVELS,
    LUT_IN_RANGE,
    NODE_KINDS,
    POOL_OPS,
    SOFTMAX_IMPLEMENTATIONS,
    Cast,
    Codes,
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
    ceillog2,
    frozen_codes,
    is_valid_reuse_factor,
    spatial,
    valid_reuse_factors,
    with_adder_levels,
    with_lut_multipliers,
)
from kiln.ir._serialize import graph_from_dict, graph_to_dict
from kiln.ir._types import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedType

__all__ = [
    "DEFAULT_ADDER_LEVELS",
    "LUT_IN_RANGE",
    "MAX_WIDTH",
    "NODE_KINDS",
    "OVERFLOW_MODES",
    "POOL_OPS",
    "ROUNDING_MODES",
    "SOFTMAX_IMPLEMENTATIONS",
    "Cast",
    "Codes",
    "Conv",
    "Dense",
    "FixedType",
    "Graph",
    "Input",
    "Lut",
    "Node",
    "Pad",
    "Pool",
    "Relu",
    "Softmax",
    "ceillog2",
    "check_graph",
    "frozen_codes",
    "is_valid_reuse_factor",
    "graph_from_dict",
    "graph_to_dict",
    "spatial",
    "valid_reuse_factors",
    "with_adder_levels",
    "with_lut_multipliers",
]
