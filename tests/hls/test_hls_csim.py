"""Building hls4ml's C simulation: its build script through kiln's tool runner, with the g++
kiln found first on PATH."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kiln import hls
from kiln.errors import ArtifactError, ToolFailedError


def _project(root: Path, script: str) -> Path:
    """An HLS project directory with a fake ``build_lib.sh``."""
    (root / "firmware").mkdir(parents=True)
    (root / "build_lib.sh").write_text(f"set -e\n{script}\n")
    return root


def test_rebuild_runs_the_build_script_with_kilns_gxx(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "gcc" / "bin"
    bindir.mkdir(parents=True)
    gxx = bindir / "g++"
    gxx.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "g++ (fake) 1.0"; exit 0; fi\n'
                   'echo "fake g++ $*" > firmware/kiln_model-1234.so\n')
    gxx.chmod(gxx.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("KILN_GXX", str(gxx))
    hls_dir = _project(tmp_path / "hls", "g++ -shared -o x")
    library = hls.rebuild_library(hls_dir)
    assert library == hls_dir / "firmware" / "kiln_model-1234.so"
    assert library.read_text() == "fake g++ -shared -o x\n"


def test_a_failed_build_has_the_output(tmp_path: Path) -> None:
    hls_dir = _project(tmp_path / "hls", 'echo "error: no such file"; exit 1')
    with pytest.raises(ToolFailedError, match=r"(?s)hls4ml C simulation build \(g\+\+\) failed "
                                              r"\(exit status 1\).*error: no such file"):
        hls.rebuild_library(hls_dir)
    with pytest.raises(ArtifactError, match="No C simulation library in"):
        hls.find_library(hls_dir)
