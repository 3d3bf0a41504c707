"""kiln compile is atomic and locked: it builds in a hidden sibling folder and renames it
into place, so a failed compile leaves the old artifact exactly as it was; a lock file beside
the folder makes a second compile wait (logged) or fail clearly; the renamed artifact's C
simulation runs where it lands, without a rebuild."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.artifact import artifact_lock, file_digest, lock_path
from kiln.compiler import BuildOptions, compile_artifact
from kiln.errors import ArtifactError, KilnError

TINY_H5 = Path(__file__).resolve().parents[2] / "tests" / "flows" / "fixtures" / "tiny_mlp.h5"


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_digest(p) for p in sorted(root.rglob("*"))
            if p.is_file()}


def _siblings(root: Path) -> list[str]:
    return sorted(p.name for p in root.parent.iterdir() if p.name.startswith(f".{root.name}.")
                  and p != lock_path(root))


def test_a_failed_compile_leaves_the_old_artifact_as_it_was(
        artifact_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(artifact_copy)

    def broken_gxx(model_graph: Any) -> Path:
        raise KilnError("g++ failed (simulated)")

    monkeypatch.setattr("kiln.hls.write_and_compile", broken_gxx)
    with pytest.raises(KilnError, match="simulated"):
        compile_artifact(str(TINY_H5), artifact_copy, BuildOptions(), force=True)
    assert _snapshot(artifact_copy) == before
    assert _siblings(artifact_copy) == []          # no staging folder left behind
    kiln.load(artifact_copy)                       # and it still loads


def test_a_second_compile_waits_for_the_lock_and_says_so(
        artifact_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    held, release = threading.Event(), threading.Event()

    def other_process() -> None:
        with artifact_lock(artifact_copy, "test"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=other_process)
    holder.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    with caplog.at_level(logging.INFO, logger="kiln.artifact"):
        art = compile_artifact(str(TINY_H5), artifact_copy, BuildOptions(), lock_timeout_s=30)
    holder.join(10)
    assert "waiting for another kiln process" in caplog.text
    assert art.path == artifact_copy                # up to date: reused once the lock came


def test_a_lock_held_too_long_is_a_clear_error(artifact_copy: Path) -> None:
    with artifact_lock(artifact_copy, "test"), \
            pytest.raises(ArtifactError, match=r"Cannot compile into .*another kiln process "
                                               r"has held .*\.tiny\.lock for 0.3 s"):
        compile_artifact(str(TINY_H5), artifact_copy, BuildOptions(), lock_timeout_s=0.3)


def test_what_a_killed_compile_left_is_cleaned_or_restored(artifact_copy: Path) -> None:
    staging = artifact_copy.parent / ".tiny.building-dead"
    (staging / "hls").mkdir(parents=True)
    compile_artifact(str(TINY_H5), artifact_copy, BuildOptions())      # reused
    assert not staging.exists()
    # killed between the two renames of the swap: the old artifact is set aside, none in place
    artifact_copy.rename(artifact_copy.parent / ".tiny.previous-999")
    art = compile_artifact(str(TINY_H5), artifact_copy, BuildOptions())
    assert art.path.is_dir() and _siblings(artifact_copy) == []


def test_a_recompile_swaps_in_the_new_build_and_keeps_the_rest(
        artifact_copy: Path) -> None:
    (artifact_copy / "bitstream" / "ulx3s-85f").mkdir(parents=True)
    (artifact_copy / "bitstream" / "ulx3s-85f" / "kiln.bit").write_bytes(b"bits")
    (artifact_copy / "reports").mkdir(exist_ok=True)
    (artifact_copy / "reports" / "verification.json").write_text("{}")
    art = compile_artifact(str(TINY_H5), artifact_copy, BuildOptions(), force=True)
    assert (artifact_copy / "bitstream" / "ulx3s-85f" / "kiln.bit").read_bytes() == b"bits"
    # reports of the old build go; the new build's own (fit.json) come
    assert [p.name for p in (artifact_copy / "reports").iterdir()] == ["fit.json"]
    assert _siblings(artifact_copy) == []
    assert kiln.load(artifact_copy).artifact.manifest == art.manifest


def test_a_moved_artifact_runs_its_c_simulation_without_a_rebuild(
        artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moved = tmp_path / "elsewhere" / "tiny"
    shutil.move(str(artifact_copy), str(moved))
    library = next((moved / "hls" / "firmware").glob("*.so"))
    assert b"/tiny/hls" not in library.read_bytes()    # records no build folder

    def no_rebuild(hls_dir: Path) -> Path:
        raise AssertionError("the hls device rebuilt the C simulation")

    monkeypatch.setattr("kiln.hls.rebuild_library", no_rebuild)
    rt = kiln.load(moved)
    x = np.random.default_rng(0).uniform(-1, 1, size=(50, 16))
    assert np.array_equal(rt.predict(x, device="hls", raw=True),
                          rt.predict(x, device="cpu", raw=True))
