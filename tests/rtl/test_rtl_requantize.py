"""The Verilog requantize generator against kiln.fixed.requantize, every code, every mode."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from kiln.fixed import requantize
from kiln.ir import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from kiln.rtl._builder import Module, concat
from kiln.rtl._requantize import Value, is_wiring
from kiln.rtl._requantize import requantize as rtl_requantize

HERE = Path(__file__).parent
IN_W = 8

F = FixedType
# (source, destination without modes): narrowing and widening, both signednesses.
PAIRS = [
    (F(8, 3), F(5, 2)),                 # drop 3 LSBs and 1 MSB
    (F(8, 3), F(4, 1, False)),          # signed -> unsigned, narrower
    (F(8, 4, False), F(5, 2)),          # unsigned -> signed, narrower
    (F(8, 4, False), F(4, 2, False)),   # unsigned -> unsigned, narrower
    (F(6, 2), F(10, 4)),                # widen both ends (append fraction bits)
    (F(6, 2), F(9, 3, False)),          # widen, negative values overflow an unsigned type
    (F(6, 2), F(4, 10)),                # drop more bits than the source has
    (F(7, 3, False), F(3, -1, False)),  # same binary point, overflow only
    (F(8, 3), F(12, 8)),                # drop one LSB, wider range
    (F(7, 7), F(3, 7)),                 # integers to a coarser grid
    (F(5, 1, False), F(2, 1)),          # smallest signed type SAT_SYM allows
    (F(1, 1), F(2, 0, False)),          # one-bit signed source
    (F(3, 0, False), F(6, 1)),          # unsigned, shifted up, exact
]
CASES = [(src, dst.with_modes(r, o)) for (src, dst), r, o in
         itertools.product(PAIRS, ROUNDING_MODES, OVERFLOW_MODES)]


def _dut(cases: list[tuple[FixedType, FixedType]]) -> Module:
    """One module computing every case from the low bits of ``x``; ``y`` packs the results."""
    m = Module("dut_comb")
    x = m.input("x", IN_W)
    outputs = []
    for k, (src, dst) in enumerate(cases):
        value = Value.of(x.ref().sub(0, src.width, src.signed), src.frac)
        outputs.append(m.wire(f"y{k}", rtl_requantize(m, value, dst, f"k{k}")).ref())
    y = m.output("y", sum(r.width for r in outputs))
    m.assign(y, concat(*reversed(outputs)))
    return m


def _expected(src: FixedType, dst: FixedType) -> list[int]:
    raw = torch.arange(1 << IN_W, dtype=torch.int64) & ((1 << src.width) - 1)
    if src.signed:
        raw = torch.where(raw >= 1 << (src.width - 1), raw - (1 << src.width), raw)
    return requantize(raw, src.frac, dst).tolist()


@pytest.mark.icarus
def test_every_mode_matches_kiln_fixed(icarus, codes, tmp_path: Path) -> None:
    assert len(CASES) == len(PAIRS) * 7 * 4
    dut = tmp_path / "dut_comb.v"
    dut.write_text(_dut(CASES).emit())
    out_w = sum(dst.width for _, dst in CASES)
    lines = icarus.run([HERE / "tb_comb.v", dut], "tb_comb", tmp_path, IN_W=IN_W,
                       OUT_W=out_w).split()
    assert len(lines) == 1 << IN_W
    got: list[list[int]] = [[] for _ in CASES]
    for line in lines:
        word, offset = int(line, 16), 0
        for k, (_, dst) in enumerate(CASES):
            got[k] += codes.unpack(word >> offset, 1, dst.width, dst.signed)
            offset += dst.width
    bad = [f"{src} -> {dst}" for k, (src, dst) in enumerate(CASES)
           if got[k] != _expected(src, dst)]
    assert not bad, f"{len(bad)} of {len(CASES)} casts differ from kiln.fixed: {bad[:8]}"


@pytest.mark.verilator
def test_cast_module_lints_clean(verilator, tmp_path: Path) -> None:
    (tmp_path / "dut_comb.v").write_text(_dut(CASES).emit())
    (tmp_path / "files.f").write_text("dut_comb.v\n")
    assert "%Warning" not in verilator.lint(tmp_path, "dut_comb")


@pytest.mark.parametrize(("src", "dst"), CASES, ids=str)
def test_is_wiring_says_when_no_gates_are_built(src: FixedType, dst: FixedType) -> None:
    m = Module("m")
    x = m.input("x", src.width, src.signed)
    lo, hi = x.ref().range
    e = rtl_requantize(m, Value.of(x.ref(), src.frac), dst, "q")
    gates = any(op in e.text for op in "?+<>&|") or "q_r" in m.signals
    assert is_wiring(src.frac, lo, hi, src.signed, dst) == (not gates)


def test_known_range_prunes_saturation() -> None:
    """A source range inside the destination's needs no comparator, whatever the widths."""
    m = Module("m")
    x = m.input("x", 8, True)
    narrow = Value(x.ref(), 0, -5, 5)
    e = rtl_requantize(m, narrow, F(4, 4, True, "TRN", "SAT"), "q")
    assert e.text == "$signed(x[3:0])"
    full = rtl_requantize(m, Value.of(x.ref(), 0), F(4, 4, True, "TRN", "SAT"), "r")
    assert ">" in full.text and "<" in full.text
