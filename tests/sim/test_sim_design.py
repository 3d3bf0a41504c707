"""kiln.sim's small parts: stall patterns, the simulation sources, the Icarus testbench."""

from __future__ import annotations

import pytest

from kiln._checkout import sim_source_dir
from kiln.artifact import TopContract
from kiln.sim import StallPattern
from kiln.sim._icarus import icarus_testbench


def test_stall_pattern_is_validated() -> None:
    with pytest.raises(ValueError, match=r"out_gap must be in \[0, 0.99\], not 1.0"):
        StallPattern(out_gap=1.0)
    assert StallPattern(0.5, 0.5).idle_limit(3) == 4 * StallPattern().idle_limit(3)


def test_harness_and_bench_sources_are_found() -> None:
    assert (sim_source_dir() / "harness" / "kiln_emu.cpp").is_file()
    assert (sim_source_dir() / "benches" / "kiln_top_bench.py").is_file()


def test_icarus_testbench_text() -> None:
    g = TopContract(in_elems=2, in_width=3, in_signed=True, out_elems=2, out_width=4,
                    out_signed=True, latency=1, ii=1)
    text = " ".join(icarus_testbench(g, 5, 100).split())
    for piece in ("module kiln_tb;", "localparam integer N = 5;", "reg [5:0] mem [0:N-1];",
                  "wire [7:0] m_tdata;", "kiln_top dut ( .clk(clk),", '$readmemh("inputs.hex"',
                  '$fwrite(fd, "%h\\n", m_tdata);', "endmodule"):
        assert piece in text
    with pytest.raises(ValueError, match="at least one sample"):
        icarus_testbench(g, 0, 100)
