"""Running a tool: its output logged as it comes, a heartbeat while it runs, a time limit,
and nothing left behind (it runs in its own process group, killed on a timeout or when the
caller is interrupted)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kiln.errors import ToolFailedError, ToolMissingError

__all__ = ["run_tool"]

log = logging.getLogger(__name__)
_HEARTBEAT_S = 15.0
_TAIL_CHARS = 3000
_DRAIN_S = 5.0  # after a kill: how long to wait for the output pipe to close
_WARNING_PREFIXES = ("%Warning", "%Error")  # Verilator's diagnostics, logged as warnings


def run_tool(argv: Sequence[str | os.PathLike[str]], *, cwd: Path, what: str,
             env: Mapping[str, str] | None = None, log_file: Path | None = None,
             timeout_s: float | None = None,
             stop_if: Callable[[str], bool] | None = None) -> str:
    """Run ``argv`` in ``cwd``; log its output at debug level (Verilator's ``%Warning`` and
    ``%Error`` lines at warning level) and a heartbeat at info level every 15 s while it
    runs; return stdout and stderr together.

    Args:
        argv: the command (``Tool.argv(...)``, or a script for the interpreter or make).
        cwd: the directory to run it in.
        what: what the run is, for log lines and errors (``"toy: synthesis"``).
        env: its environment; the caller's when None.
        log_file: where to write its output, when given (also on failure).
        timeout_s: kill it (and its process group) after this many seconds.
        stop_if: called on each output line; when it returns True the tool is stopped at once
            and the run fails (nextpnr reporting a resource over capacity, for instance,
            would otherwise try to place the design for minutes before giving up).

    Raises:
        ToolMissingError: ``argv[0]`` cannot be started.
        ToolFailedError: a non-zero exit, a run past ``timeout_s`` or one stopped by
            ``stop_if``; the message has the output's tail, ``output`` all of it.
    """
    cmd = [os.fspath(arg) for arg in argv]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=dict(env) if env is not None else None,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True)
    except OSError as exc:
        raise ToolMissingError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    lines: list[str] = []
    stopped = threading.Event()
    reader = threading.Thread(target=_collect, args=(proc, lines, what, stop_if, stopped),
                              daemon=True)
    reader.start()
    try:
        timed_out = _wait(proc, what, start, timeout_s)
    except BaseException:  # KeyboardInterrupt: the tool must not outlive its caller
        _kill(proc)
        proc.wait()
        raise
    reader.join(timeout=_DRAIN_S if timed_out or stopped.is_set() else None)
    output = "".join(lines)
    if log_file is not None:
        log_file.write_text(output)
    if timed_out or stopped.is_set() or proc.returncode != 0:
        why = (f"ran past {timeout_s:.0f} s" if timed_out else
               "stopped early: its output shows it cannot succeed" if stopped.is_set() else
               f"exit status {proc.returncode}")
        where = f"; full log: {log_file}" if log_file is not None else ""
        raise ToolFailedError(f"{what} failed ({why}) in {cwd}: {' '.join(cmd[:4])} ...{where}"
                              f"\n{output[-_TAIL_CHARS:]}", output)
    log.info("%s: done in %.1f s", what, time.monotonic() - start)
    return output


def _wait(proc: subprocess.Popen[str], what: str, start: float,
          timeout_s: float | None) -> bool:
    """Wait for ``proc``, logging a heartbeat; True when it was killed for ``timeout_s``."""
    deadline = None if timeout_s is None else start + timeout_s
    beat = start + _HEARTBEAT_S
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            _kill(proc)
            proc.wait()
            return True
        wake = beat if deadline is None else min(beat, deadline)
        try:
            proc.wait(timeout=max(wake - now, 0.0))
            return False
        except subprocess.TimeoutExpired:
            if time.monotonic() >= beat:
                log.info("%s: still running (%.0f s)", what, time.monotonic() - start)
                beat += _HEARTBEAT_S


def _kill(proc: subprocess.Popen[str]) -> None:
    """Kill the tool and whatever it started (it runs in its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _collect(proc: subprocess.Popen[str], lines: list[str], what: str,
             stop_if: Callable[[str], bool] | None, stopped: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        text = line.rstrip()
        log.log(logging.WARNING if text.startswith(_WARNING_PREFIXES) else logging.DEBUG,
                "%s: %s", what, text)
        if stop_if is not None and not stopped.is_set() and stop_if(line):
            log.info("%s: stopping it: %s", what, line.strip())
            stopped.set()
            _kill(proc)
    proc.stdout.close()
