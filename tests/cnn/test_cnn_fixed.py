"""kiln.fixed on conv, pool and pad nodes against a direct loop-by-loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.cnn.graphs import Chain, input_codes

from kiln.fixed import execute, requantize
from kiln.ir import Conv, FixedType, Pool, graph_from_dict, graph_to_dict, spatial
from kiln.rtl._stream import reciprocal


def _loop_reference(x: np.ndarray, in_shape: tuple[int, ...], node: Conv | Pool) -> np.ndarray:
    """Each output pixel from its window by explicit loops (independent of unfold)."""
    rows, cols, channels = spatial(in_shape)
    out_rows, out_cols, out_channels = spatial(node.shape)
    image = x.reshape(rows, cols, channels)
    out = np.zeros((out_rows, out_cols, out_channels), dtype=np.int64)
    for r in range(out_rows):
        for c in range(out_cols):
            r0, c0 = r * node.stride[0], c * node.stride[1]
            window = image[r0:r0 + node.kernel[0], c0:c0 + node.kernel[1], :]
            if isinstance(node, Pool):
                out[r, c] = window.reshape(-1, channels).max(axis=0)
            else:
                out[r, c] = window.reshape(-1) @ node.weight
    return out.reshape(-1)


@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (2, 3)])
def test_conv_equals_loops(stride: tuple[int, int]) -> None:
    graph = Chain((7, 8, 3), seed=1).conv(4, (3, 2), stride).graph()
    conv = graph.nodes[1]
    assert isinstance(conv, Conv)
    x = input_codes(graph, 5, seed=2)
    got = execute(graph, torch.from_numpy(x))["output"].numpy()
    # Products at frac in+w, summed wide, then the bias and the output cast.
    frac = graph.input.out_type.frac + conv.weight_type.frac
    for k in range(len(x)):
        acc = _loop_reference(x[k], graph.input.shape, conv).reshape(-1, 4)
        acc = acc + (conv.bias << (frac - conv.bias_type.frac))
        want = requantize(torch.from_numpy(acc), frac, conv.out_type).numpy().reshape(-1)
        assert np.array_equal(got[k], want)


def test_pool_equals_loops() -> None:
    graph = Chain((6, 7, 2), seed=3).pool((2, 3), (2, 2)).graph()
    x = input_codes(graph, 4, seed=4)
    got = execute(graph, torch.from_numpy(x))["output"].numpy()
    for k in range(len(x)):
        assert np.array_equal(got[k], _loop_reference(x[k], graph.input.shape, graph.nodes[1]))


@pytest.mark.parametrize(("kernel", "stride", "accum"), [
    ((2, 2), (2, 2), FixedType(10, 4)),  # hls4ml's inferred accumulator: exact
    ((2, 3), (1, 2), FixedType(6, 3, True, "RND")),  # rounds each element, wraps the sum
    ((6, 7), (1, 1), FixedType(9, 5, False)),  # global, unsigned: negatives wrap
])
def test_average_pool_equals_loops(kernel: tuple[int, int], stride: tuple[int, int],
                                   accum: FixedType) -> None:
    graph = Chain((6, 7, 2), seed=7).pool(kernel, stride, accum).graph()
    node, in_t = graph.nodes[1], graph.input.out_type
    x = input_codes(graph, 6, seed=8)
    got = execute(graph, torch.from_numpy(x))["output"].numpy()
    rows, cols, channels = spatial(graph.input.shape)
    out_rows, out_cols, _ = spatial(node.shape)
    n = kernel[0] * kernel[1]
    for k in range(len(x)):
        image = x[k].reshape(rows, cols, channels)
        want = []
        for r in range(out_rows):
            for c in range(out_cols):
                window = image[r * stride[0]:r * stride[0] + kernel[0],
                               c * stride[1]:c * stride[1] + kernel[1]].reshape(-1, channels)
                for ch in range(channels):
                    elems = requantize(torch.from_numpy(window[:, ch]), in_t.frac, accum)
                    total = int(requantize(elems.sum().reshape(1), accum.frac, accum)[0])
                    quotient = abs(total) // n * (1 if total >= 0 else -1)
                    want.append(int(requantize(torch.tensor([quotient]), accum.frac,
                                               node.out_type)[0]))
        assert got[k].tolist() == want


@pytest.mark.parametrize("divisor", [3, 5, 7, 9, 12, 25, 49, 100])
def test_reciprocal_divides_exactly(divisor: int) -> None:
    bits = 12
    factor, shift = reciprocal(divisor, bits)
    a = np.arange(1 << bits, dtype=np.int64)
    assert np.array_equal((a * factor) >> shift, a // divisor)


def test_pad_surrounds_with_zero_codes() -> None:
    graph = Chain((2, 3, 2), seed=5).pad((1, 2, 0, 1)).graph()
    x = input_codes(graph, 1, seed=6)
    got = execute(graph, torch.from_numpy(x))["output"].numpy().reshape(5, 4, 2)
    assert np.array_equal(got[1:3, 0:3], x.reshape(2, 3, 2))
    assert not got[0].any() and not got[3:].any() and not got[:, 3].any()


def test_depthwise_feeds_each_channel_only_itself() -> None:
    graph = Chain((5, 5, 3), seed=7).conv(0, (3, 3), depthwise=True).graph()
    conv = graph.nodes[1]
    assert isinstance(conv, Conv)
    off_diagonal = conv.weight.reshape(9, 3, 3)[:, ~np.eye(3, dtype=bool)]
    assert not off_diagonal.any()


def test_conv_graph_round_trips_through_json() -> None:
    graph = Chain((4, 9, 2), seed=8).pad((0, 0, 1, 1)).conv(3, (2, 3), (1, 2)).relu() \
        .pool((1, 2), (1, 2)).dense(4).graph()
    again = graph_from_dict(graph_to_dict(graph))
    assert repr(again) == repr(graph)
    x = torch.from_numpy(input_codes(graph, 3, seed=9))
    assert torch.equal(execute(again, x)["output"], execute(graph, x)["output"])


def test_checker_refuses_inconsistent_windows() -> None:
    from dataclasses import replace

    from kiln.errors import KilnError
    from kiln.ir import Graph, check_graph

    graph = Chain((6, 6, 2), seed=10).conv(3, (3, 3)).pool((2, 2), (2, 2)).pad((1, 0, 0, 0)) \
        .graph()
    nodes = list(graph.nodes)
    for index, change, message in [
        (1, {"shape": (3, 4, 3)}, "gives"),
        (1, {"weight": graph.nodes[1].weight[:9]}, "do not fit"),  # type: ignore[attr-defined]
        (2, {"shape": (2, 2, 4)}, "channels"),
        (3, {"shape": (2, 2, 3)}, "pads"),
        (2, {"op": "min"}, "op 'min'"),
        (2, {"op": "average", "accum_type": FixedType(12, 4, True, "TRN", "SAT")},
         "'pool2': accumulator .* saturates"),
    ]:
        broken = [*nodes[:index], replace(nodes[index], **change), *nodes[index + 1:]]
        with pytest.raises(KilnError, match=message):
            check_graph(Graph("g", tuple(broken), io_type="io_stream"))
