"""The one tool runner: output, logging, heartbeat, failures with the output's tail, time
limits and interrupts that leave no process behind."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.errors import ToolFailedError, ToolMissingError
from kiln.tools import _run, run_tool

# prints 2000 numbered lines, starts a grandchild that would sleep for a minute, waits
_NOISY_HANG = ('i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; '
               'sleep 60 & echo $! > child.pid; wait')


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_success_returns_the_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kiln.tools")
    log_file = tmp_path / "t.log"
    out = run_tool(_sh('echo "out $GREETING"; echo "%Warning-WIDTH: x.v:1" >&2'), cwd=tmp_path,
                   env={"GREETING": "hello", "PATH": os.environ["PATH"]}, what="tiny",
                   log_file=log_file)
    assert out == "out hello\n%Warning-WIDTH: x.v:1\n" == log_file.read_text()
    levels = {r.getMessage(): r.levelno for r in caplog.records}
    assert levels["tiny: out hello"] == logging.DEBUG
    assert levels["tiny: %Warning-WIDTH: x.v:1"] == logging.WARNING
    assert any(m.startswith("tiny: done in ") for m in levels)


def test_failure_has_the_exit_status_and_output(tmp_path: Path) -> None:
    with pytest.raises(ToolFailedError, match=r"(?s)tiny failed \(exit status 3\) in .*: sh -c "
                                              r".*full log: .*t\.log\nboom\n$") as info:
        run_tool(_sh("echo boom; exit 3"), cwd=tmp_path, what="tiny", log_file=tmp_path / "t.log")
    assert info.value.output == "boom\n"
    with pytest.raises(ToolMissingError, match="tiny: cannot run /nonexistent/tool"):
        run_tool(["/nonexistent/tool"], cwd=tmp_path, what="tiny")


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ToolFailedError, match=r"tiny failed \(ran past 1 s\)") as info:
        run_tool(_sh(_NOISY_HANG), cwd=tmp_path, what="tiny", timeout_s=1.0)
    assert time.monotonic() - start < 20
    message = str(info.value)
    assert "line 1999\n" in message and "line 0\n" not in message  # the tail only
    assert info.value.output.startswith("line 0\n")  # all of it
    assert _gone(int((tmp_path / "child.pid").read_text()))


def test_stop_if_ends_the_run_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ToolFailedError, match="stopped early") as info:
        run_tool(_sh(_NOISY_HANG.replace("wait", "echo FATAL; wait")), cwd=tmp_path,
                 what="tiny", stop_if=lambda line: line.startswith("FATAL"))
    assert time.monotonic() - start < 20
    assert "FATAL" in info.value.output
    assert _gone(int((tmp_path / "child.pid").read_text()))


@pytest.fixture
def interrupt_in() -> Iterator[None]:
    """SIGALRM raises KeyboardInterrupt in the test's thread, as Ctrl-C would."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("interrupt_in")
def test_interrupt_kills_the_process_group(tmp_path: Path) -> None:
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    with pytest.raises(KeyboardInterrupt):
        run_tool(_sh(_NOISY_HANG), cwd=tmp_path, what="tiny", timeout_s=30)
    assert _gone(int((tmp_path / "child.pid").read_text()))


def test_heartbeat_while_it_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_run, "_HEARTBEAT_S", 0.2)
    caplog.set_level(logging.INFO, logger="kiln.tools")
    start = time.monotonic()
    run_tool(_sh("sleep 1"), cwd=tmp_path, what="tiny")
    elapsed = time.monotonic() - start
    beats = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert 2 <= len(beats) <= elapsed / 0.2 + 1, beats  # one every 0.2 s, no more
