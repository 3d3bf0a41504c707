"""The per-user cache of Verilator's compiled run-time library."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.sim import _objcache as objcache
from kiln.tools import Verilator

FAKE = Verilator(executable=Path("/opt/verilator/bin/verilator"), root=None, version="v0")


def test_cache_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    assert objcache.cache_root() == tmp_path
    monkeypatch.setenv("KILN_CACHE_DIR", "off")
    assert objcache.cache_root() is None
    monkeypatch.delenv("KILN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert objcache.cache_root() == tmp_path / "xdg" / "kiln"


def test_store_then_seed_makes_fresh_objects(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path / "cache"))
    build = tmp_path / "build"
    build.mkdir()
    for stem in ("verilated", "verilated_vpi", "Vtop__ALL"):
        (build / f"{stem}.o").write_bytes(stem.encode())
        (build / f"{stem}.d").write_text(f"{stem}.o: x.cpp\n")
    (build / "verilated_threads.o").write_bytes(b"no .d file: not kept")
    assert objcache.seed(FAKE, "flavor", tmp_path / "empty") == ()
    objcache.store(FAKE, "flavor", build)
    dest = tmp_path / "next"
    assert objcache.seed(FAKE, "flavor", dest) == ("verilated", "verilated_vpi")
    assert (dest / "verilated.o").read_bytes() == b"verilated"
    assert (dest / "verilated.o").stat().st_mtime > 1e9  # newer than any source
    assert objcache.seed(FAKE, "other flavor", tmp_path / "other") == ()
    monkeypatch.setenv("KILN_CACHE_DIR", "off")
    assert objcache.seed(FAKE, "flavor", tmp_path / "off") == ()
