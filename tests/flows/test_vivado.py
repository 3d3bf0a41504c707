"""The Vivado flow's Tcl: it parses, and run in tclsh against stub Vivado commands it builds the
block design the PYNQ transport expects (PS + AXI DMA, streams into and out of kiln_top)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flow_helpers import STUB, make_artifact

from kiln.artifact import TopSources
from kiln.errors import KilnError, ToolMissingError
from kiln.flows import DmaWidths, TimingError, build_bitstream, plan_bitstream

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed")


def _tclsh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tclsh", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def _run_stubbed(plan_dir: Path, wns: str = "0.25") -> tuple[subprocess.CompletedProcess[str],
                                                              list[str]]:
    """Run build.tcl from ``plan_dir`` in tclsh with the stub commands; return the calls."""
    runs = plan_dir / "vivado" / "kiln.runs" / "impl_1"
    runs.mkdir(parents=True)
    (runs / "kiln_wrapper.bit").write_text("bit")
    (plan_dir / "stub.hwh").write_text("<hwh/>")
    proc = _tclsh(str(STUB / "driver.tcl"), str(plan_dir / "build.tcl"), str(plan_dir / "calls"),
                  str(plan_dir / "stub.hwh"), wns, "")
    return proc, (plan_dir / "calls").read_text().splitlines()


@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
def test_tcl_is_complete(board: str, tiny_artifact: Path, tmp_path: Path) -> None:
    script = tmp_path / "build.tcl"
    script.write_bytes(plan_bitstream(tiny_artifact, board).file("build.tcl"))
    check = f'set f [open "{script}"]; puts [info complete [read $f]]; close $f'
    assert _tclsh_eval(check, tmp_path) == "1"


def _tclsh_eval(code: str, cwd: Path) -> str:
    (cwd / "check.tcl").write_text(code + "\n")
    proc = _tclsh(str(cwd / "check.tcl"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_pynq_block_design(tiny_artifact: Path, tmp_path: Path) -> None:
    plan = plan_bitstream(tiny_artifact, "pynq-z2")
    plan.write(tmp_path)
    proc, calls = _run_stubbed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = "\n".join(calls)
    assert "create_project -force kiln" in text and "-part xc7z020clg400-1" in text
    assert f"add_files -norecurse {tmp_path}/rtl/kiln_top.v" in calls
    assert "create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:9.9 " \
           "processing_system7_0" in calls
    assert "create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:9.9 axi_dma" in calls
    assert "create_bd_cell -type module -reference kiln_axis_dma_wrap kiln" in calls
    assert "connect_bd_intf_net axi_dma/M_AXIS_MM2S kiln/s_axis" in calls
    assert "connect_bd_intf_net kiln/m_axis axi_dma/S_AXIS_S2MM" in calls
    assert "connect_bd_net processing_system7_0/FCLK_CLK0 kiln/clk" in calls
    assert "CONFIG.c_include_sg 0" in text and "CONFIG.c_m_axis_mm2s_tdata_width 32" in text
    assert "CONFIG.IN_BITS 24 CONFIG.OUT_BITS 20" in text
    assert "CONFIG.PCW_USE_S_AXI_HP0 1" in text
    assert any(c.startswith("launch_runs impl_1 -to_step write_bitstream") for c in calls)
    assert (tmp_path / "kiln.bit").read_text() == "bit"
    assert (tmp_path / "kiln.hwh").read_text() == "<hwh/>"
    report = json.loads((tmp_path / "kiln_vivado.json").read_text())
    assert report == {"wns_ns": 0.25, "clock_mhz": 100, "part": "xc7z020clg400-1", "luts": 3,
                      "ffs": 3, "dsps": 3, "brams": 3}


def test_zcu104_uses_the_ultrascale_ps(tiny_artifact: Path, tmp_path: Path) -> None:
    plan_bitstream(tiny_artifact, "zcu104").write(tmp_path)
    proc, calls = _run_stubbed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = "\n".join(calls)
    assert "-part xczu7ev-ffvc1156-2-e" in text
    assert "xilinx.com:ip:zynq_ultra_ps_e:9.9 zynq_ultra_ps_e_0" in text
    assert "Master /zynq_ultra_ps_e_0/M_AXI_HPM0_FPD" in text
    assert "Slave /zynq_ultra_ps_e_0/S_AXI_HP0_FPD" in text
    assert "connect_bd_intf_net axi_dma/M_AXIS_MM2S kiln/s_axis" in calls


def test_timing_failure_stops_the_script(tiny_artifact: Path, tmp_path: Path) -> None:
    plan_bitstream(tiny_artifact, "pynq-z2").write(tmp_path)
    proc, _ = _run_stubbed(tmp_path, wns="-0.4")
    assert proc.returncode != 0 and "timing fails" in proc.stderr


def test_no_vivado_writes_the_scripts_and_says_what_they_do(
        tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KILN_VIVADO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as info:
        build_bitstream(tiny_artifact, "pynq-z2")
    message = str(info.value)
    for words in ("vivado is not installed", "KILN_VIVADO", "build.tcl", "axi_dma",
                  "processing_system7", "kiln.hwh", "vivado -mode batch -source build.tcl"):
        assert words in message
    assert (tiny_artifact / "bitstream" / "pynq-z2" / "build.tcl").is_file()
    assert not (tiny_artifact / "bitstream" / "pynq-z2" / "kiln.bit").exists()


def test_vendor_flow_end_to_end_with_a_fake_vivado(tiny_artifact: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_VIVADO", str(STUB / "vivado"))
    report = build_bitstream(tiny_artifact, "pynq-z2")
    assert report.bitstream == tiny_artifact / "bitstream" / "pynq-z2" / "kiln.bit"
    assert report.extra_files["hwh"].read_text() == "<hwh/>\n"
    assert report.timing_met and report.clocks[0].constraint_mhz == 100
    saved = json.loads((tiny_artifact / "reports" / "bitstream_pynq-z2.json").read_text())
    assert saved["timing_met"] and saved["utilisation"]["LUT"]["used"] == 3
    assert build_bitstream(tiny_artifact, "pynq-z2").cached
    monkeypatch.setenv("KILN_STUB_WNS", "-1.5")
    with pytest.raises(TimingError, match="Timing fails on pynq-z2"):
        build_bitstream(tiny_artifact, "pynq-z2", force=True)


def test_dma_widths(tmp_path: Path) -> None:
    art = make_artifact(tmp_path / "a")
    assert DmaWidths.of(TopSources.load(art)) == DmaWidths(32, 32)
    meta = json.loads((art / "rtl" / "rtl.json").read_text())
    meta.update(in_elems=64, in_width=16, out_elems=10, out_width=16)
    (art / "rtl" / "rtl.json").write_text(json.dumps(meta))
    assert DmaWidths.of(TopSources.load(art)) == DmaWidths(1024, 256)
    meta.update(in_elems=65)
    (art / "rtl" / "rtl.json").write_text(json.dumps(meta))
    with pytest.raises(KilnError, match="at most 1024 bits"):
        DmaWidths.of(TopSources.load(art))
