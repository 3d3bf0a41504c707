from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kiln.errors import KilnError, PrecisionError
from kiln.ir import (
    DEFAULT_ADDER_LEVELS,
    Cast,
    Dense,
    FixedType,
    Graph,
    Input,
    Relu,
    check_graph,
    frozen_codes,
    graph_from_dict,
    graph_to_dict,
    with_adder_levels,
)


def small_graph() -> Graph:
    t_in = FixedType(6, 2, True, "RND_CONV", "SAT")
    dense = Dense(name="fc", source="x", shape=(2,), out_type=FixedType(12, 5),
                  weight=frozen_codes([[1, -2], [0, 31], [-32, 5]]), bias=frozen_codes([3, -1]),
                  weight_type=FixedType(6, 1), bias_type=FixedType(4, -1),
                  accum_type=FixedType(12, 5))
    return Graph("tiny", (
        Input(name="x", source="", shape=(3,), out_type=t_in),
        dense,
        Relu(name="act", source="fc", shape=(2,), out_type=FixedType(6, 2, False, "RND", "SAT")),
        Cast(name="out", source="act", shape=(2,), out_type=FixedType(8, 3)),
    ))


def test_repr_is_stable() -> None:
    assert repr(small_graph()) == "\n".join([
        "graph tiny io_parallel",
        "  input x() -> fixed<6,2,RND_CONV,SAT> x[3]",
        "  dense fc(x) -> fixed<12,5,TRN,WRAP> x[2] weight=int64[3, 2] bias=int64[2] "
        "weight_type=fixed<6,1,TRN,WRAP> bias_type=fixed<4,-1,TRN,WRAP> "
        "accum_type=fixed<12,5,TRN,WRAP> reuse_factor=1 adder_levels=2 lut_multipliers=False",
        "  relu act(fc) -> ufixed<6,2,RND,SAT> x[2]",
        "  cast out(act) -> fixed<8,3,TRN,WRAP> x[2]",
    ])


def test_nodes_are_frozen() -> None:
    g = small_graph()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.nodes[1].name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        g.nodes[1].weight[0, 0] = 7  # type: ignore[attr-defined]


def test_serialization_round_trip() -> None:
    g = small_graph()
    back = graph_from_dict(graph_to_dict(g))
    assert repr(back) == repr(g)
    assert np.array_equal(back.nodes[1].weight, g.nodes[1].weight)  # type: ignore[attr-defined]


def test_checker_accepts_and_rejects() -> None:
    g = check_graph(small_graph())
    broken_chain = dataclasses.replace(g.nodes[2], source="x")
    with pytest.raises(KilnError, match="reads 'x'"):
        check_graph(dataclasses.replace(g, nodes=(g.nodes[0], g.nodes[1], broken_chain)))
    out_of_range = dataclasses.replace(g.nodes[1], weight=frozen_codes([[1, 2], [0, 40], [0, 0]]))
    with pytest.raises(PrecisionError, match="weight codes"):
        check_graph(dataclasses.replace(g, nodes=(g.nodes[0], out_of_range)))
    saturating = dataclasses.replace(g.nodes[1], accum_type=FixedType(12, 5, True, "TRN", "SAT"))
    with pytest.raises(PrecisionError, match="WRAP"):
        check_graph(dataclasses.replace(g, nodes=(g.nodes[0], saturating)))


def test_adder_levels_are_checked_and_default_when_absent() -> None:
    graph = small_graph()
    with pytest.raises(KilnError, match=r"Dense 'fc': adder_levels must be .* 1 or more, not 0"):
        check_graph(with_adder_levels(graph, 0))
    assert check_graph(with_adder_levels(graph, 5)).nodes[1].adder_levels == 5  # type: ignore[attr-defined]
    data = graph_to_dict(graph)
    del data["nodes"][1]["adder_levels"]  # an IR written before the field existed
    assert graph_from_dict(data).nodes[1].adder_levels == DEFAULT_ADDER_LEVELS  # type: ignore[attr-defined]
