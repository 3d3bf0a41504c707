"""Programming: openFPGALoader with the board's name; clear errors when no board answers."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from kiln.errors import ArtifactError, KilnError, ToolMissingError
from kiln.flows import BoardNotFoundError, program
from kiln.tools import require_tool


def _built(artifact: Path, board: str, name: str, timing_met: bool = True) -> Path:
    out = artifact / "bitstream" / board
    out.mkdir(parents=True)
    (out / name).write_bytes(b"\xff\x00\x00\xff")
    reports = artifact / "reports"
    reports.mkdir(exist_ok=True)
    (reports / f"bitstream_{board}.json").write_text(json.dumps({"timing_met": timing_met}))
    return out / name


def _fake_loader(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "openFPGALoader"
    exe.write_text(f'#!/bin/sh\nif [ "$1" = -V ]; then echo "openFPGALoader v0"; exit 0; fi\n'
                   f"{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_program_runs_openfpgaloader(tiny_artifact: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bit = _built(tiny_artifact, "ulx3s-85f", "kiln.bit")
    args = tmp_path / "args"
    monkeypatch.setenv("KILN_OPENFPGALOADER", str(_fake_loader(tmp_path, f'echo "$@" > {args}')))
    assert program(tiny_artifact, "ulx3s-85f") == bit
    assert args.read_text().split() == ["-b", "ulx3s", str(bit)]
    program(tiny_artifact, "ulx3s-85f", flash=True, cable="ft231X")
    assert args.read_text().split() == ["-b", "ulx3s", "-c", "ft231X", "-f", str(bit)]


def test_no_board_is_a_clear_error(tiny_artifact: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _built(tiny_artifact, "icebreaker", "kiln.bin")
    fake = _fake_loader(tmp_path, 'echo "unable to open ftdi device: -3 (device not found)"\n'
                                  'echo "JTAG init failed with: unable to open ftdi device"\n'
                                  "exit 1")
    monkeypatch.setenv("KILN_OPENFPGALOADER", str(fake))
    with pytest.raises(BoardNotFoundError, match="No 1BitSquared iCEBreaker .* found: "
                                                 "openFPGALoader says 'unable to open ftdi"):
        program(tiny_artifact, "icebreaker")


def test_with_the_real_openfpgaloader_and_no_board(tiny_artifact: Path) -> None:
    try:
        require_tool("openFPGALoader")
    except ToolMissingError:
        pytest.skip("openFPGALoader is not installed")
    _built(tiny_artifact, "ulx3s-85f", "kiln.bit")
    # No board is attached here: a BoardNotFoundError (or, without libusb, ToolMissingError).
    with pytest.raises(KilnError) as info:
        program(tiny_artifact, "ulx3s-85f", timeout_s=60)
    assert isinstance(info.value, BoardNotFoundError | ToolMissingError), info.value


def test_refusals(tiny_artifact: Path) -> None:
    with pytest.raises(ArtifactError, match="kiln bitstream .* --board ulx3s-85f"):
        program(tiny_artifact, "ulx3s-85f")
    with pytest.raises(KilnError, match="pynq.Overlay"):
        program(tiny_artifact, "pynq-z2")
    _built(tiny_artifact, "icebreaker", "kiln.bin", timing_met=False)
    with pytest.raises(KilnError, match="misses timing"):
        program(tiny_artifact, "icebreaker")
    assert shutil.which("sh")
