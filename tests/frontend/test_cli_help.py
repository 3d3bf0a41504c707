"""`kiln` help: every option that takes a value says what it means and lists its choices;
library log noise stays out of kiln's output unless -v."""

from __future__ import annotations

import logging

import pytest

from kiln.cli._main import DEVICE_NAMES, _setup_logging, build_parser


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return str(sub.choices[command].format_help())  # type: ignore[union-attr]


def test_device_names_are_the_runtime_devices() -> None:
    from kiln.runtime._devices import DEVICES

    assert set(DEVICE_NAMES) == {"auto", *DEVICES}


@pytest.mark.parametrize(("command", "texts"), [
    ("compile", ["--io-type {io_parallel,io_stream}", "Choices: io_parallel, io_stream",
                 "--reuse-factor", "--precision TYPE", "--clock-period NS"]),
    ("predict", ["Choices: auto, fpga, fpga-sim, cuda, cpu, hls, reference"]),
    ("compare", ["from fpga, fpga-sim, cuda, cpu, hls, reference"]),
])
def test_options_have_help_with_choices(command: str, texts: list[str]) -> None:
    text = " ".join(_help(command).split())
    for expected in texts:
        assert " ".join(expected.split()) in text


def test_unknown_device_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "a", "x.npy", "--devices", "cpu,gpu"])
    assert "choose from fpga, fpga-sim" in capsys.readouterr().err


def test_library_logs_only_with_verbose() -> None:
    _setup_logging(verbose=False)
    assert not logging.getLogger().isEnabledFor(logging.INFO)  # hls4ml's "keras dict linear"
    assert logging.getLogger("kiln.compiler").isEnabledFor(logging.INFO)
    _setup_logging(verbose=True)
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
