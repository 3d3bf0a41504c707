"""kiln.rtl's resource estimate: what it counts per layer."""

from __future__ import annotations

from tests.cnn.graphs import Chain

from kiln.rtl import estimate


def test_stream_layers_count_one_pixel() -> None:
    graph = Chain((12, 12, 4), 1).conv(8, (3, 3)).relu().pool((2, 2), (2, 2)).dense(10).graph()
    costs = estimate(graph)
    relu = next(n for n in graph.nodes if n.kind == "relu")
    per_pixel = relu.shape[-1] * relu.out_type.width
    assert costs[relu.name].ff == per_pixel  # one pixel's channels, not the frame's
    dense = graph.nodes[-1]
    frame_bits = graph.nodes[-2].size * graph.nodes[-2].out_type.width
    assert costs[dense.name].ff > frame_bits  # the frame collector in front of the Dense
    parallel = estimate(Chain((10,), 2).dense(8).relu().graph())
    assert parallel["total"].lut4 > 0 and parallel["total"].dsp == 0
