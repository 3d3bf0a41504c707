"""kiln.sim's view of an RTL directory: geometry, content hash, code checks, beat packing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import FIXTURES, make_rtl

from kiln.errors import ArtifactError, InputShapeError, ToolMissingError
from kiln.sim import RtlDirectory, StallPattern, StreamGeometry
from kiln.sim._design import as_input_codes, code_range, pack_beats, unpack_beats
from kiln.sim._icarus import icarus_testbench
from kiln.sim._tools import require_tool, sim_source_dir


def test_load_reads_files_and_geometry(tmp_path: Path) -> None:
    design = RtlDirectory.load(make_rtl(tmp_path, "wide_signed"))
    assert [s.name for s in design.sources] == ["kiln_top.v", "pairsum.v"]
    g = design.geometry
    assert (g.in_bits, g.out_bits, g.in_signed, g.latency, g.ii) == (384, 448, True, 3, 1)


@pytest.mark.parametrize(("remove", "message"), [
    ("files.f", r"files\.f is missing"),
    ("rtl.json", r"rtl\.json is missing"),
    ("pairsum.v", r"lists files that do not exist: .*pairsum\.v"),
])
def test_load_names_what_is_missing(tmp_path: Path, remove: str, message: str) -> None:
    rtl = make_rtl(tmp_path, "narrow_unsigned")
    (rtl / remove).unlink()
    with pytest.raises(ArtifactError, match=message):
        RtlDirectory.load(rtl)


def test_geometry_rejects_bad_values() -> None:
    meta = json.loads((FIXTURES / "wide_signed" / "rtl.json").read_text())
    with pytest.raises(ArtifactError, match="in_width must be a positive integer, not 0"):
        StreamGeometry.from_dict({**meta, "in_width": 0})
    with pytest.raises(ArtifactError, match="at most 64 bits"):
        StreamGeometry.from_dict({**meta, "out_width": 65})
    with pytest.raises(ArtifactError, match="lacks ii"):
        StreamGeometry.from_dict({k: v for k, v in meta.items() if k != "ii"})


def test_digest_follows_content_only(tmp_path: Path) -> None:
    a = RtlDirectory.load(make_rtl(tmp_path / "a", "wide_signed"))
    b = RtlDirectory.load(make_rtl(tmp_path / "b", "wide_signed"))
    assert a.digest() == b.digest()  # same content in another place
    assert a.digest("x") != a.digest("y")
    with (b.rtl_dir / "pairsum.v").open("a") as f:
        f.write("// changed\n")
    assert a.digest() != RtlDirectory.load(b.rtl_dir).digest()


@pytest.mark.parametrize(("width", "signed"), [(1, False), (2, True), (7, True), (33, False),
                                               (63, True), (64, True), (64, False)])
def test_pack_unpack_round_trip(width: int, signed: bool) -> None:
    lo, hi = code_range(width, signed)
    rng = np.random.default_rng(width)
    codes = rng.integers(max(lo, -(2**63)), min(hi, 2**63 - 1), size=(20, 5), endpoint=True)
    codes[0, :2] = [max(lo, -(2**63)), min(hi, 2**63 - 1)]
    beats = pack_beats(codes, width)
    assert all(0 <= b < 1 << (5 * width) for b in beats)
    assert np.array_equal(unpack_beats(beats, 5, width, signed), codes)


def test_pack_layout_is_little_endian_twos_complement() -> None:
    assert pack_beats(np.array([[1, -1, -2]]), 4) == [0xEF1]
    assert unpack_beats([0xEF1], 3, 4, True).tolist() == [[1, -1, -2]]
    assert unpack_beats([0xEF1], 3, 4, False).tolist() == [[1, 15, 14]]


def test_input_codes_are_checked() -> None:
    g = StreamGeometry("kiln_top", 4, 8, False, 4, 9, False, 3, 1)
    ok = as_input_codes(np.full((2, 2, 2), 255, dtype=np.int32), g)
    assert ok.dtype == np.int64 and ok.shape == (2, 4) and ok.flags.c_contiguous
    with pytest.raises(InputShapeError, match=r"Input code 256 at sample 1, element 3 .*"
                                              r"8-bit unsigned \[0, 255\]"):
        as_input_codes(np.array([[0, 0, 0, 0], [0, 0, 0, 256]]), g)
    assert as_input_codes(np.array([[-1, 0, 0, 256]]), g, on_overflow="wrap").shape == (1, 4)
    with pytest.raises(InputShapeError, match="integer codes, not dtype float64"):
        as_input_codes(np.zeros((1, 4)), g)
    with pytest.raises(InputShapeError, match=r"shape \(1, 5\); the design takes \(n, 4\)"):
        as_input_codes(np.zeros((1, 5), dtype=np.int64), g)


def test_stall_pattern_is_validated() -> None:
    with pytest.raises(ValueError, match=r"out_gap must be in \[0, 0.99\], not 1.0"):
        StallPattern(out_gap=1.0)
    assert StallPattern(0.5, 0.5).idle_limit(3) == 4 * StallPattern().idle_limit(3)


def test_missing_tool_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_IVERILOG", "/nonexistent/iverilog")
    with pytest.raises(ToolMissingError, match=r"\$KILN_IVERILOG is '/nonexistent/iverilog'"):
        require_tool("iverilog", "KILN_IVERILOG")
    with pytest.raises(ToolMissingError, match="no-such-simulator is not on PATH.*make setup"):
        require_tool("no-such-simulator")


def test_harness_and_bench_sources_are_found() -> None:
    assert (sim_source_dir() / "harness" / "kiln_emu.cpp").is_file()
    assert (sim_source_dir() / "benches" / "kiln_top_bench.py").is_file()


def test_icarus_testbench_text() -> None:
    g = StreamGeometry("kiln_top", 2, 3, True, 2, 4, True, 1, 1)
    text = " ".join(icarus_testbench(g, 5, 100).split())
    for piece in ("module kiln_tb;", "localparam integer N = 5;", "reg [5:0] mem [0:N-1];",
                  "wire [7:0] m_tdata;", "kiln_top dut ( .clk(clk),", '$readmemh("inputs.hex"',
                  '$fwrite(fd, "%h\\n", m_tdata);', "endmodule"):
        assert piece in text
    with pytest.raises(ValueError, match="at least one sample"):
        icarus_testbench(g, 0, 100)
