"""kiln.fixed's sigmoid, tanh and softmax equal hls4ml's nnet_activation.h, code for code."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from nnet_cases import LUTS, SOFTMAXES, LutConfig, SoftmaxConfig, as_tensor

from kiln.errors import PrecisionError
from kiln.fixed import lut_codes, softmax_codes
from kiln.fixed._activations import reduce_tree
from kiln.ir import FixedType


def _first_mismatches(x: np.ndarray, kiln: np.ndarray, cpp: np.ndarray) -> str:
    rows = np.flatnonzero((kiln != cpp).reshape(len(kiln), -1).any(axis=1))
    shown = "\n".join(f"  x={x[r]} kiln={kiln[r]} C++={cpp[r]}" for r in rows[:5])
    return f"{rows.size} of {len(kiln)} samples differ:\n{shown}"


@pytest.mark.parametrize("config", LUTS, ids=lambda c: c.name)
def test_lut_codes(config: LutConfig, nnet_results) -> None:  # type: ignore[no-untyped-def]
    x, cpp = nnet_results.lut_runs[config.name]
    kiln = lut_codes(as_tensor(x), config.in_type, config.node()).numpy()
    assert np.array_equal(kiln, cpp), _first_mismatches(x, kiln, cpp)


@pytest.mark.parametrize("config", SOFTMAXES, ids=lambda c: c.name)
def test_softmax_codes(config: SoftmaxConfig, nnet_results) -> None:  # type: ignore[no-untyped-def]
    x, cpp = nnet_results.softmax_runs[config.name]
    assert len(x) > 10000
    kiln = softmax_codes(as_tensor(x), config.in_type, config.node()).numpy()
    assert np.array_equal(kiln, cpp), _first_mismatches(x, kiln, cpp)


def test_executor_runs_table_nodes(nnet_results) -> None:  # type: ignore[no-untyped-def]
    """kiln.fixed.execute dispatches Lut and Softmax nodes of a checked graph."""
    from kiln.fixed import execute
    from kiln.ir import Graph, Input, check_graph

    config = SOFTMAXES[0]
    x, cpp = nnet_results.softmax_runs[config.name]
    node = dataclasses.replace(config.node(), source="x")
    graph = check_graph(Graph("jet_softmax", (
        Input(name="x", source="", shape=(config.n,), out_type=config.in_type), node)))
    assert np.array_equal(execute(graph, as_tensor(x))["output"].numpy(), cpp)


def test_reduce_tree_order_matters_when_saturating() -> None:
    """nnet::reduce over 5 inputs is ((x0 + x1) + (x2 + x3)) + x4; with SAT that differs
    from a left-to-right sum."""
    t = FixedType(4, 4, True, "TRN", "SAT")  # codes -8..7
    x = torch.tensor([[7, 7, -8, -8, 7]])
    assert reduce_tree(x, "add", t).item() == (7 + -8) + 7  # SAT(14) = 7, SAT(-16) = -8
    left_to_right = 7
    for v in (7, -8, -8, 7):
        left_to_right = max(-8, min(7, left_to_right + v))
    assert left_to_right != reduce_tree(x, "add", t).item()


def test_unknown_softmax_implementation_is_refused() -> None:
    node = SOFTMAXES[0].node()
    with pytest.raises(PrecisionError, match="'legacy'"):
        softmax_codes(torch.zeros((1, 5), dtype=torch.int64), SOFTMAXES[0].in_type,
                      dataclasses.replace(node, implementation="legacy"))
