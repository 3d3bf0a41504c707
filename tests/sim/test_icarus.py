"""Icarus Verilog as a second opinion: equal to the emulator and the reference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sim_helpers import pairsum, random_codes

from kiln.errors import KilnError
from kiln.sim import run_icarus

pytestmark = [pytest.mark.icarus,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs iverilog")]


@pytest.mark.verilator
def test_icarus_equals_emulator_on_wide_signed(wide_emulator, rtl_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(11, 300, 64, 6, signed=True)
    x[0] = -32
    icarus = run_icarus(rtl_dirs["wide_signed"], x, tmp_path)
    assert np.array_equal(icarus, wide_emulator.run(x).codes)
    assert np.array_equal(icarus, pairsum(x))
    assert (tmp_path / "tb.v").is_file() and (tmp_path / "outputs.hex").is_file()


def test_icarus_narrow_unsigned(rtl_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(12, 200, 4, 8, signed=False)
    assert np.array_equal(run_icarus(rtl_dirs["narrow_unsigned"], x, tmp_path), pairsum(x))
    assert run_icarus(rtl_dirs["narrow_unsigned"], x[:0], tmp_path).shape == (0, 4)
    assert np.array_equal(run_icarus(rtl_dirs["narrow_unsigned"], x[:1], tmp_path),
                          pairsum(x[:1]))


def test_icarus_reports_a_stuck_design(rtl_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rtl = tmp_path / "rtl"
    shutil.copytree(rtl_dirs["narrow_unsigned"], rtl)
    text = (rtl / "pairsum.v").read_text().replace("assign m_axis_tvalid = v3;",
                                                    "assign m_axis_tvalid = 1'b0;")
    (rtl / "pairsum.v").write_text(text)
    with pytest.raises(KilnError, match="did not produce 20 outputs"):
        run_icarus(rtl, random_codes(13, 20, 4, 8, signed=False), tmp_path / "work")
