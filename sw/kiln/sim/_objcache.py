"""A per-user cache of Verilator's compiled run-time library (``verilated.o`` and friends).

Every Verilator build compiles the same run-time sources (10-25 s of CPU), which do not
depend on the design. kiln keeps the objects, keyed by the Verilator install, the compiler
and the flags, and drops them into a fresh build directory before ``make`` runs; ``make``
then finds them up to date (each comes with its ``.d`` dependency file). A stale or missing
entry only means ``make`` compiles them again.

``$KILN_CACHE_DIR`` picks the directory (``off`` disables the cache); the default is
``$XDG_CACHE_HOME/kiln`` or ``~/.cache/kiln``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from kiln.sim._tools import Verilator

log = logging.getLogger(__name__)

CACHE_ENV = "KILN_CACHE_DIR"


def cache_root() -> Path | None:
    """The user-level kiln cache directory, or None when ``$KILN_CACHE_DIR`` is ``off``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kiln"


@functools.lru_cache(maxsize=2)
def _compiler_id(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except OSError:
        return "unknown"


def _slot(tool: Verilator, flavor: str, names: Sequence[str]) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    key = hashlib.sha256("\0".join([
        tool.version, str(tool.executable.resolve()), _compiler_id("c++"), flavor, *names,
    ]).encode()).hexdigest()[:16]
    return root / "verilated" / key


def seed(tool: Verilator, flavor: str, names: Sequence[str], dest: Path) -> bool:
    """Copy cached run-time objects ``names`` (stems, e.g. ``verilated``) into ``dest``."""
    slot = _slot(tool, flavor, names)
    if slot is None or not all((slot / f"{n}.o").is_file() for n in names):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for name in names:
        for suffix in (".o", ".d"):
            target = dest / f"{name}{suffix}"
            shutil.copyfile(slot / f"{name}{suffix}", target)
            os.utime(target, (now, now))
    log.debug("verilated run-time objects from %s", slot)
    return True


def store(tool: Verilator, flavor: str, names: Sequence[str], src: Path) -> None:
    """Keep the run-time objects ``names`` that a finished build left in ``src``."""
    slot = _slot(tool, flavor, names)
    if slot is None or slot.is_dir():
        return
    files = [src / f"{n}{s}" for n in names for s in (".o", ".d")]
    if not all(f.is_file() for f in files):
        return
    tmp = slot.parent / f".{slot.name}-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        tmp.rename(slot)
        log.debug("cached verilated run-time objects in %s", slot)
    except OSError as exc:  # a read-only home, or another process got there first
        log.debug("not caching run-time objects in %s: %s", slot, exc)
        shutil.rmtree(tmp, ignore_errors=True)
