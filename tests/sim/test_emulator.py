"""The bulk emulator on the hand-written fixture DUTs: exact codes for >64-bit and narrow
ports, signed and unsigned; the build cache; stall patterns; the beat-by-beat stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import pairsum, random_codes

from kiln.errors import InputShapeError, KilnError
from kiln.sim import Emulator, StallPattern

pytestmark = pytest.mark.verilator


def test_wide_signed_codes_equal_reference(wide_emulator) -> None:  # type: ignore[no-untyped-def]
    g = wide_emulator.contract
    assert (g.in_bits, g.out_bits) == (384, 448)  # VlWide ports on both sides
    x = random_codes(1, 5000, 64, 6, signed=True)
    x[0] = -32  # extreme codes: the sum -64 needs all 7 output bits
    x[1] = 31
    result = wide_emulator.run(x)
    assert result.codes.dtype == np.int64 and result.codes.shape == (5000, 64)
    assert np.array_equal(result.codes, pairsum(x))
    assert result.codes.min() == -64 and result.codes.max() == 62
    assert result.cycles == len(x) + g.latency  # back to back, II = 1


def test_narrow_unsigned_codes_equal_reference(rtl_dirs, emu_cache, verilator_tool) -> None:  # type: ignore[no-untyped-def]
    emu = Emulator.build(rtl_dirs["narrow_unsigned"], emu_cache, verilator=verilator_tool)
    assert (emu.contract.in_bits, emu.contract.out_bits) == (32, 36)  # IData in, QData out
    x = random_codes(2, 3000, 4, 8, signed=False)
    x[0] = 255
    result = emu.run(x.astype(np.uint8))
    assert np.array_equal(result.codes, pairsum(x))
    assert result.codes.max() == 510 and result.codes.min() >= 0
    assert emu.run(x[:0]).codes.shape == (0, 4)


def test_cache_hit_skips_the_build(wide_emulator, rtl_dirs, emu_cache, verilator_tool) -> None:  # type: ignore[no-untyped-def]
    library = wide_emulator.library
    mtime = library.stat().st_mtime_ns
    again = Emulator.build(rtl_dirs["wide_signed"], emu_cache, verilator=verilator_tool)
    assert again.cached and again.library == library and again.key == wide_emulator.key
    assert library.stat().st_mtime_ns == mtime
    info = json.loads((library.parent / "build.json").read_text())
    assert info["key"] == wide_emulator.key and info["contract"]["in_elems"] == 64
    x = random_codes(3, 100, 64, 6, signed=True)
    assert np.array_equal(again.run(x).codes, pairsum(x))


def test_stall_patterns_give_the_same_codes(wide_emulator) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(4, 2000, 64, 6, signed=True)
    full = wide_emulator.run(x)
    cycles = set()
    for seed, (p_in, p_out) in enumerate([(0.3, 0.0), (0.0, 0.5), (0.4, 0.6)]):
        stalled = wide_emulator.run(x, StallPattern(p_in, p_out, seed))
        assert np.array_equal(stalled.codes, full.codes)
        assert stalled.cycles > full.cycles
        cycles.add(stalled.cycles)
    assert len(cycles) == 3
    same = wide_emulator.run(x, StallPattern(0.4, 0.6, 2))
    assert same.cycles in cycles  # a seed gives one pattern


def test_stream_pushes_and_pulls_beats(wide_emulator) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(5, 10, 64, 6, signed=True)
    with wide_emulator.open() as stream:
        first = stream.step(x, max_out=4, max_cycles=50)
        assert first.stopped_early and first.codes.shape == (4, 64)
        assert 4 < first.consumed < 10  # the pipeline filled, then backpressure stopped it
        rest = stream.step(x[first.consumed:], max_out=6, max_cycles=50)
        assert not rest.stopped_early and rest.consumed == 10 - first.consumed
        got = np.concatenate([first.codes, rest.codes])
        assert np.array_equal(got, pairsum(x))
        stream.reset()
        assert stream.cycles == 0
        assert np.array_equal(stream.step(x[:1], 1, 20).codes, pairsum(x[:1]))
    with pytest.raises(KilnError, match="closed"):
        _ = stream.cycles


def test_bad_inputs_are_refused(wide_emulator) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(6, 3, 64, 6, signed=True)
    x[2, 5] = 32
    with pytest.raises(InputShapeError, match="Input code 32 at sample 2, element 5"):
        wide_emulator.run(x)
    wrapped = wide_emulator.run(x, on_overflow="wrap")  # 32 wraps to -32 in 6 bits
    x[2, 5] = -32
    assert np.array_equal(wrapped.codes, pairsum(x))
    with pytest.raises(InputShapeError, match=r"\(n, 64\)"):
        wide_emulator.run(x[:, :63])


def test_dropping_design_is_caught_under_stalls(rtl_dirs, emu_cache, verilator_tool) -> None:  # type: ignore[no-untyped-def]
    emu = Emulator.build(rtl_dirs["wide_drop"], emu_cache, verilator=verilator_tool)
    x = random_codes(7, 500, 64, 6, signed=True)
    assert np.array_equal(emu.run(x).codes, pairsum(x))  # at full rate it works
    with pytest.raises(KilnError, match=r"accepted 500 of 500 samples and produced \d+ outputs"):
        emu.run(x, StallPattern(0.0, 0.5, 1))


def test_build_failure_shows_the_log(tmp_path: Path, rtl_dirs, verilator_tool) -> None:  # type: ignore[no-untyped-def]
    import shutil

    rtl = tmp_path / "rtl"
    shutil.copytree(rtl_dirs["narrow_unsigned"], rtl)
    (rtl / "pairsum.v").write_text("module pairsum(; endmodule\n")
    with pytest.raises(KilnError, match="(?s)Verilator failed .*syntax error"):
        Emulator.build(rtl, tmp_path / "cache", verilator=verilator_tool)
