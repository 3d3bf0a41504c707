"""The open flow for real (YoWASP yosys + nextpnr from PyPI) on the tiny stand-in design.

The iCE40 build takes about 5 s once YoWASP has compiled its WebAssembly (its first call
after installation takes about a minute, cached under ~/.cache/YoWASP); the ECP5 build
about 10 s, and is marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_helpers import HERE, make_artifact

from kiln.flows import (
    FitError,
    TimingError,
    build_bitstream,
    parse_nextpnr_report,
)
from kiln.flows._report import fit_error_from_log

TOO_BIG = HERE / "fixtures" / "too_big"
NEXTPNR_OVERFULL = """\
Info: Device utilisation:
Info: 	         ICESTORM_LC:  9012/ 5280   170%
Info: 	        ICESTORM_RAM:     0/   30     0%
Info: 	               SB_IO:     6/   96     6%
ERROR: Unable to place cell 'u_kiln.acc_SB_LUT4_O', no BELs remaining to implement cell type
"""


def _check_report(artifact: Path, board: str, lut: str) -> dict[str, object]:
    data = json.loads((artifact / "reports" / f"bitstream_{board}.json").read_text())
    assert data["board"] == board and data["timing_met"]
    util = data["utilisation"]
    assert 100 < util[lut]["used"] < 1000 and util[lut]["available"] > 1000
    assert data["clocks"]["clk"]["achieved_mhz"] > data["clocks"]["clk"]["constraint_mhz"]
    return data


def test_icebreaker_bitstream(tiny_artifact: Path) -> None:
    report = build_bitstream(tiny_artifact, "icebreaker")
    out = tiny_artifact / "bitstream" / "icebreaker"
    assert report.bitstream == out / "kiln.bin"
    data = out.joinpath("kiln.bin").read_bytes()
    assert len(data) > 100_000 and data[:4] == bytes([0xFF, 0x00, 0x00, 0xFF])  # iCE40 preamble
    assert report.timing_met and not report.cached
    _check_report(tiny_artifact, "icebreaker", "ICESTORM_LC")
    util, clocks = parse_nextpnr_report(out / "report.json")
    assert [c.clock for c in clocks] == ["clk"]
    assert clocks[0].constraint_mhz == pytest.approx(12, rel=1e-4)
    again = build_bitstream(tiny_artifact, "icebreaker")
    assert again.cached and again.bitstream == report.bitstream


@pytest.mark.slow
def test_ulx3s_bitstream(tiny_artifact: Path) -> None:
    report = build_bitstream(tiny_artifact, "ulx3s-85f")
    bit = (tiny_artifact / "bitstream" / "ulx3s-85f" / "kiln.bit").read_bytes()
    assert report.bitstream is not None and len(bit) > 10_000
    assert b"\xbd\xb3" in bit[:64]    # ECP5 bitstream preamble (after the comment header)
    _check_report(tiny_artifact, "ulx3s-85f", "TRELLIS_COMB")


def test_a_missed_clock_is_a_timing_error(tiny_artifact: Path) -> None:
    # 1 GHz on the board clock: nextpnr reports the achieved Fmax; kiln refuses the build.
    board = "icebreaker"
    fast = {"add_constraints": "set_frequency clk 1000"}
    with pytest.raises(TimingError, match="clock clk reaches .* MHz, the board needs 1000 MHz"):
        build_bitstream(tiny_artifact, board, overrides=fast)
    saved = json.loads((tiny_artifact / "reports" / f"bitstream_{board}.json").read_text())
    assert saved["timing_met"] is False
    report = build_bitstream(tiny_artifact, board, overrides=fast, allow_timing_fail=True)
    assert not report.timing_met and report.bitstream is not None and report.cached


def test_fit_error_names_the_resource_and_what_to_change() -> None:
    err = fit_error_from_log(NEXTPNR_OVERFULL, "icebreaker", "iCE40UP5K-SG48", ["bigger-board"])
    assert isinstance(err, FitError)
    text = str(err)
    assert "does not fit iCE40UP5K-SG48 on icebreaker" in text
    assert "ICESTORM_LC 9012/5280 (171%)" in text
    assert "precision" in text and "pruning" in text and "--board bigger-board" in text
    assert "reuse" not in text  # folding is refused by kiln compile, so never advised
    assert fit_error_from_log("Info: all fine\n", "b", "d") is None


@pytest.mark.slow
def test_too_big_for_the_part_stops_placement_early(tmp_path: Path) -> None:
    art = make_artifact(tmp_path / "big", TOO_BIG)  # 6144 flip-flops: UP5K has 5280 cells
    with pytest.raises(FitError, match=r"ICESTORM_LC 66\d\d/5280 .*precision") as info:
        build_bitstream(art, "icebreaker")
    assert "stopped early" in str(info.value.__cause__)


def test_bigger_boards_are_suggested_smallest_first() -> None:
    from kiln.flows import boards
    from kiln.flows._open import bigger_boards

    every = list(boards().values())
    assert bigger_boards(boards()["ulx3s-12f"], every) == ["ulx3s-25f", "ulx3s-45f", "ulx3s-85f"]
    assert bigger_boards(boards()["ulx3s-85f"], every) == []
    assert bigger_boards(boards()["icebreaker"], every) == []


@pytest.mark.slow
def test_a_compiled_model_fits_the_icebreaker(tiny_mlp_artifact: Path) -> None:
    # kiln.rtl's 16-8-4 MLP (4-bit): about half the UP5K's logic cells, no DSP needed
    report = build_bitstream(tiny_mlp_artifact, "icebreaker")
    util = {u.resource: u for u in report.utilisation}
    assert 1000 < util["ICESTORM_LC"].used < util["ICESTORM_LC"].available == 5280
    assert report.timing_met and report.bitstream is not None and report.bitstream.is_file()
