"""The argument groups the `kiln` CLI adds for bitstream, program and estimate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kiln.cli._flows import (
    add_bitstream_arguments,
    add_estimate_arguments,
    add_program_arguments,
    bitstream_command,
    program_command,
)
from kiln.errors import KilnError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln")
    sub = parser.add_subparsers(dest="command", required=True)
    add_bitstream_arguments(sub.add_parser("bitstream"))
    add_program_arguments(sub.add_parser("program"))
    add_estimate_arguments(sub.add_parser("estimate"))
    return parser


def test_bitstream_dry_run(tiny_artifact: Path) -> None:
    args = _parser().parse_args(["bitstream", str(tiny_artifact), "--board", "ulx3s-85f",
                                 "--dry-run", "--override", "nextpnr_opts=--seed 3"])
    code, text = bitstream_command(args)
    assert code == 0 and "place and route (nextpnr-ecp5): nextpnr-ecp5 --85k" in text
    assert "--seed 3" in text
    built = tiny_artifact / "bitstream" / "ulx3s-85f"
    assert (built / "synth.ys").is_file() and (built / "top.lpf").is_file()
    assert not (built / "kiln.bit").exists()


def test_bad_arguments(tiny_artifact: Path) -> None:
    parser = _parser()
    args = parser.parse_args(["bitstream", str(tiny_artifact), "--board", "nope", "--dry-run"])
    with pytest.raises(KilnError, match="Unknown board 'nope'; kiln knows"):
        bitstream_command(args)
    args = parser.parse_args(["bitstream", str(tiny_artifact), "--board", "icebreaker",
                              "--override", "no-equals-sign"])
    with pytest.raises(KilnError, match="HOOK=TEXT"):
        bitstream_command(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["estimate", str(tiny_artifact), "--family", "xc9"])
    args = parser.parse_args(["program", str(tiny_artifact), "--board", "pynq-z2"])
    with pytest.raises(KilnError, match="pynq.Overlay"):
        program_command(args)


def test_kiln_command_has_the_flow_subcommands(tiny_artifact: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from kiln.cli import main

    assert main(["bitstream", str(tiny_artifact), "--board", "icebreaker", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "place and route (nextpnr-ice40): nextpnr-ice40 --up5k --package sg48" in out
    assert (tiny_artifact / "bitstream" / "icebreaker" / "top.pcf").is_file()
    assert main(["program", str(tiny_artifact), "--board", "pynq-z2"]) == 2
    assert "pynq.Overlay" in capsys.readouterr().err
