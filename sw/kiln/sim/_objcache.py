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
from pathlib import Path

from kiln.tools import Verilator

log = logging.getLogger(__name__)

CACHE_ENV = "KILN_CACHE_DIR"
PREFIX = "verilated"  # verilated.o, verilated_threads.o, verilated_vpi.o, ...


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


def _slot(tool: Verilator, flavor: str) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    key = hashlib.sha256("\0".join([
        tool.version, str(tool.executable.resolve()), _compiler_id("c++"), flavor,
    ]).encode()).hexdigest()[:16]
    return root / "verilated" / key


def _objects(directory: Path) -> list[str]:
    """Stems of the run-time objects (``verilated*.o`` with their ``.d``) in ``directory``."""
    return sorted(p.stem for p in directory.glob(f"{PREFIX}*.o")
                  if p.with_suffix(".d").is_file())


def seed(tool: Verilator, flavor: str, dest: Path) -> tuple[str, ...]:
    """Copy the cached run-time objects for ``flavor`` into ``dest``; return their stems."""
    slot = _slot(tool, flavor)
    stems = _objects(slot) if slot is not None and slot.is_dir() else []
    if not stems:
        return ()
    dest.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for stem in stems:
        for suffix in (".o", ".d"):
            target = dest / f"{stem}{suffix}"
            shutil.copyfile(slot / f"{stem}{suffix}", target)  # type: ignore[operator]
            os.utime(target, (now, now))
    log.debug("verilated run-time objects %s from %s", stems, slot)
    return tuple(stems)


def store(tool: Verilator, flavor: str, src: Path) -> None:
    """Keep the run-time objects that a finished build left in ``src``."""
    slot = _slot(tool, flavor)
    stems = _objects(src)
    if slot is None or slot.is_dir() or not stems:
        return
    tmp = slot.parent / f".{slot.name}-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for stem in stems:
            for suffix in (".o", ".d"):
                shutil.copyfile(src / f"{stem}{suffix}", tmp / f"{stem}{suffix}")
        tmp.rename(slot)
        log.debug("cached verilated run-time objects %s in %s", stems, slot)
    except OSError as exc:  # a read-only home, or another process got there first
        log.debug("not caching run-time objects in %s: %s", slot, exc)
        shutil.rmtree(tmp, ignore_errors=True)
