"""The FIFO in front of a folded io_stream layer (kiln.rtl._fifo): the enable path from
``m_axis_tready`` ends at it, and the layers before a folded convolution run on into the
next frame while it finishes this one, so frames follow at the slowest layer's rate."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.cnn.graphs import Chain, input_codes

from kiln.fixed import execute
from kiln.ir import Conv, Dense, Graph
from kiln.rtl import emit_rtl, write_rtl


def _two_folded_convs() -> Graph:
    """Conv 3x3 on 10x10 at R = 18 (64 pixels: 1,152 cycles a frame), then conv 3x3 at
    R = 36 (36 pixels: 1,296 cycles), whose windows all come in the frame's last 6 rows."""
    graph = Chain((10, 10, 1), 21).conv(4, (3, 3)).relu().conv(4, (3, 3)).graph()
    factors = iter([18, 36])
    return replace(graph, nodes=tuple(replace(n, reuse_factor=next(factors))
                                      if isinstance(n, Conv | Dense) else n
                                      for n in graph.nodes))


def test_every_folded_layer_behind_a_line_buffer_gets_a_fifo_that_ends_the_enable_path(
) -> None:
    top = emit_rtl(_two_folded_convs()).files["kiln_top.v"]
    assert re.search(r"assign s_axis_tready = \(rst_n & conv1_fifo_in_ready\);", top), top
    # The ReLU before the second conv advances on that FIFO's registered ready, not on the
    # enables of the stages after it.
    assert re.search(r"wire relu2_ce = \(conv3_fifo_in_ready \| \(~relu2_out_valid\)\);",
                     top), top


@pytest.mark.verilator
def test_frames_follow_at_the_slowest_layers_rate(tmp_path: Path) -> None:
    """Without the FIFO the first conv stalls while the second computes and the second idles
    through the first rows of each frame: 1,568 cycles a frame, not 1,296."""
    from kiln.sim import Emulator, StallPattern

    graph = _two_folded_convs()
    design = emit_rtl(graph)
    write_rtl(design, tmp_path / "rtl")
    emulator = Emulator.build(tmp_path / "rtl", tmp_path / "cache")
    x = input_codes(graph, 12, seed=3)
    want = execute(graph, torch.from_numpy(x))["output"].numpy()
    runs = {n: emulator.run(x[:n]) for n in (4, 12)}
    assert np.array_equal(runs[12].codes, want)
    per_frame = (runs[12].cycles - runs[4].cycles) / 8
    assert design.meta.ii == 36 * 36
    assert per_frame <= design.meta.ii * 1.02, per_frame
    assert np.array_equal(emulator.run(x, StallPattern(0.5, 0.4, seed=5)).codes, want)
