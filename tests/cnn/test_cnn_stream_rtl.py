"""kiln.rtl io_stream: every stream layer on small shapes, RTL codes equal to kiln.fixed
(Icarus at full rate; the Verilator emulator under random backpressure and reset), lint
clean, and the stream metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.cnn.graphs import Chain, input_codes

from kiln.errors import UnsupportedLayerError
from kiln.fixed import execute
from kiln.ir import Conv, Dense, FixedType, Graph, Softmax
from kiln.rtl import emit_rtl, write_rtl


def folded(graph: Graph, *factors: int) -> Graph:
    """``graph`` with its Conv and Dense layers folded by ``factors``, in order."""
    it = iter(factors)
    nodes = tuple(replace(n, reuse_factor=next(it)) if isinstance(n, Conv | Dense) else n
                  for n in graph.nodes)
    return replace(graph, nodes=nodes)


GRAPHS: dict[str, Callable[[], Graph]] = {
    "conv2d": lambda: Chain((5, 6, 2), 1).conv(3, (3, 2)).graph(),
    "conv2d_stride": lambda: Chain((6, 7, 1), 2).conv(2, (2, 3), (2, 2)).graph(),
    "conv1d_relu": lambda: Chain((9, 3), 3).conv(4, (1, 3)).relu().graph(),
    "depthwise_pointwise": lambda: Chain((5, 5, 3), 4).conv(0, (3, 3), depthwise=True)
    .conv(4, (1, 1)).graph(),
    "maxpool": lambda: Chain((6, 6, 2), 5).pool((2, 2), (2, 2)).graph(),
    "maxpool1d_overlap": lambda: Chain((8, 2), 6).pool((1, 3), (1, 2)).graph(),
    "global_maxpool": lambda: Chain((3, 4, 2), 12).pool((3, 4), (1, 1)).graph(),
    # A divide by 4 that is a shift, truncating toward zero: the accumulator has no more
    # fractional bits than the input (hls4ml's inferred one has 2 more, so never truncates).
    "avgpool": lambda: Chain((6, 6, 2), 13).pool((2, 2), (2, 2), FixedType(8, 4)).graph(),
    # Divide by 3 (a multiply); an accumulator that drops a fractional bit (RND) and wraps.
    "avgpool1d_narrow": lambda: Chain((8, 2), 14).pool((1, 3), (1, 2),
                                                       FixedType(6, 3, True, "RND")).graph(),
    "global_avgpool": lambda: Chain((3, 4, 3), 15).pool((3, 4), (1, 1),
                                                        FixedType(12, 6)).graph(),
    "same_conv2d": lambda: Chain((4, 5, 2), 7).pad((1, 1, 1, 1)).conv(2, (3, 3)).graph(),
    "same_conv1d_twice": lambda: Chain((6, 2), 8).pad((0, 0, 1, 2)).conv(2, (1, 4))
    .pad((0, 0, 1, 2)).conv(1, (1, 4)).graph(),
    "flatten_dense": lambda: Chain((3, 4, 2), 9).conv(2, (2, 2)).relu().dense(3).graph(),
    "cnn": lambda: Chain((6, 6, 1), 10).conv(3, (3, 3)).relu().pool((2, 2), (2, 2))
    .dense(4).graph(),
    # Folded: a window's Dense over R cycles per output pixel, a frame's Dense over R cycles.
    "conv2d_folded": lambda: folded(Chain((5, 6, 2), 1).conv(3, (3, 2)).graph(), 4),
    "cnn_folded": lambda: folded(Chain((6, 6, 1), 10).conv(3, (3, 3)).relu()
                                 .pool((2, 2), (2, 2)).dense(4).graph(), 9, 6),
    "same_conv2d_folded": lambda: folded(Chain((4, 5, 2), 7).pad((1, 1, 1, 1))
                                         .conv(2, (3, 3)).graph(), 2),
    # Depthwise folded over its taps: 3 multipliers per channel; one for all three channels.
    "depthwise_folded": lambda: folded(Chain((5, 5, 3), 16).conv(3, (3, 3), depthwise=True)
                                       .graph(), 3),
    "depthwise_folded_beyond_taps": lambda: folded(Chain((4, 5, 3), 17)
                                                   .conv(3, (3, 3), depthwise=True).graph(), 27),
    "separable_folded": lambda: folded(Chain((5, 5, 2), 18).conv(2, (3, 3), depthwise=True)
                                       .relu().conv(4, (1, 1)).graph(), 9, 2),
}


def _written(name: str, tmp_path: Path) -> tuple[Graph, Path]:
    graph = GRAPHS[name]()
    write_rtl(emit_rtl(graph), tmp_path / "rtl")
    return graph, tmp_path / "rtl"


@pytest.mark.icarus
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_stream_layer_equals_fixed(name: str, icarus, tmp_path: Path) -> None:
    from kiln.sim import run_icarus

    graph, rtl = _written(name, tmp_path)
    x = input_codes(graph, 12, seed=100)
    want = execute(graph, torch.from_numpy(x))["output"].numpy()
    got = run_icarus(rtl, x, tmp_path / "icarus")
    assert np.array_equal(got, want)


@pytest.mark.verilator
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_stream_rtl_lints_clean(name: str, verilator, tmp_path: Path) -> None:
    _, rtl = _written(name, tmp_path)
    assert "%Warning" not in verilator.lint(rtl)


def test_stream_metadata_counts_beats_per_frame() -> None:
    meta = emit_rtl(GRAPHS["cnn"]()).meta
    assert (meta.in_elems, meta.in_beats, meta.out_elems, meta.out_beats) == (1, 36, 4, 1)
    assert meta.ii == 36 and meta.timing_exact
    padded = emit_rtl(GRAPHS["same_conv2d"]()).meta
    assert (padded.in_beats, padded.out_beats, padded.out_elems) == (20, 20, 2)
    assert padded.ii == 42 and not padded.timing_exact  # 6x7 padded pixels


def test_softmax_over_many_pixels_is_refused() -> None:
    graph = GRAPHS["conv1d_relu"]()
    last = graph.nodes[-1]
    soft = Softmax("soft", last.name, last.shape, last.out_type)
    bad = Graph(graph.name, (*graph.nodes, soft), io_type="io_stream")
    with pytest.raises(UnsupportedLayerError, match="'soft'.*softmax"):
        emit_rtl(bad)


def test_folded_stream_metadata() -> None:
    meta = emit_rtl(GRAPHS["cnn_folded"]()).meta
    assert meta.ii == 16 * 9  # 4x4 output pixels of the conv, 9 cycles each
    assert not meta.timing_exact  # a folded stage holds the line buffer before it


@pytest.mark.verilator
@pytest.mark.parametrize("factors", [(1, 1), (3, 6)])
def test_emulator_frames_under_backpressure_and_reset(factors: tuple[int, int], verilator,
                                                      tmp_path: Path) -> None:
    """One Verilator build: padding, conv, pool, flatten and dense under random valid/ready,
    frames back to back, and a reset in mid-frame that leaves nothing stale behind."""
    from kiln.sim import Emulator, StallPattern

    graph = folded(Chain((6, 6, 1), 11).pad((1, 1, 1, 1)).conv(2, (3, 3)).relu()
                   .pool((2, 2), (2, 2)).dense(3).graph(), *factors)
    write_rtl(emit_rtl(graph), tmp_path / "rtl")
    emulator = Emulator.build(tmp_path / "rtl", tmp_path / "cache")
    x = input_codes(graph, 40, seed=12)
    want = execute(graph, torch.from_numpy(x))["output"].numpy()
    assert np.array_equal(emulator.run(x).codes, want)
    assert np.array_equal(emulator.run(x, StallPattern(0.4, 0.5, seed=3)).codes, want)
    with emulator.open(StallPattern(0.3, 0.3, seed=4)) as stream:
        beats = x.reshape(-1, 1)
        # Frame 1 and 14 pixels of frame 2, then reset in mid-frame.
        step = stream.step(beats[:50], max_out=1, max_cycles=10_000)
        assert step.consumed == 50 and np.array_equal(step.codes, want[:1])
        stream.reset()
        rest = stream.step(beats[36:], max_out=39, max_cycles=1_000_000)
    assert np.array_equal(rest.codes, want[1:])


@pytest.mark.parametrize(("name", "multipliers"), [("depthwise_folded", 9),
                                                    ("depthwise_folded_beyond_taps", 1)])
def test_a_folded_depthwise_conv_multiplies_taps_not_zeros(name: str, multipliers: int) -> None:
    """A 3x3 depthwise conv of 3 channels has 27 products a pixel, not 81: by 3, 9
    multipliers; by 27, one."""
    text = "\n".join(emit_rtl(GRAPHS[name]()).files.values())
    assert f"{multipliers} multipliers, a sample every" in text
    assert text.count(" * ") == multipliers
