"""Runtime.predict sharded over a local 2-worker Ray: equal to one process, element for
element and in order; a failing shard is reported with its range; a dead worker's shard is
sent again. The Ray is started once for the module (about 5 s)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.errors import ArtifactError, KilnError
from kiln.runtime import Shard, ShardError
from kiln.runtime._shard import (
    artifact_paths,
    locate,
    run_shards,
    shard_count,
    split,
    use_ray,
)


def test_split_covers_every_sample_once_in_order() -> None:
    for n, count in ((1001, 3), (10, 4), (3, 8), (1, 1), (7, 7)):
        shards = split(n, count)
        assert len(shards) == min(n, count)
        assert [s.index for s in shards] == list(range(len(shards)))
        assert shards[0].start == 0 and shards[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(shards, shards[1:], strict=False))
        assert max(s.size for s in shards) - min(s.size for s in shards) <= 1
    assert split(0, 4) == ()
    assert str(split(1001, 3)[1]) == "shard 1 (samples 334..667)"


def test_shard_count_one_per_worker_and_bounded_in_bytes() -> None:
    assert shard_count(1000, 2, 64) == 2
    assert shard_count(1, 2, 64) == 1
    assert shard_count(10**6, 2, 512) == 16  # 512 MB of input in shards of at most 32 MiB


def test_one_worker_stays_in_this_process_and_bad_options_are_refused() -> None:
    assert not use_ray("predict", None, None) and not use_ray("predict", 1, None)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(KilnError, match="positive integer"):
            use_ray("predict", bad, None)  # type: ignore[arg-type]


def test_workers_find_the_artifact_by_its_path_or_in_their_working_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    for root in (driver, worker):   # the worker's working_dir: a copy of the driver's
        (root / "build" / "m").mkdir(parents=True)
        (root / "build" / "m" / "kiln.json").write_text("{}")
    monkeypatch.chdir(driver)
    paths = artifact_paths("build/m")
    assert paths == (str(driver / "build" / "m"), "build/m")
    assert locate(paths) == str(driver / "build" / "m")
    shutil.rmtree(driver / "build")   # a node without the driver's files
    monkeypatch.chdir(worker)
    assert locate(paths) == "build/m"
    shutil.rmtree(worker / "build")
    with pytest.raises(ArtifactError, match="cannot read the artifact at .*working_dir"):
        locate(paths)
    assert artifact_paths(tmp_path.parent)[1] is None   # outside the working directory


def test_cli_takes_workers_and_address_and_refuses_a_transport_with_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    from kiln.cli import main
    from kiln.cli._main import build_parser

    for command in ("predict", "verify"):
        sub = next(a for a in build_parser()._actions if a.dest == "command")
        text = " ".join(sub.choices[command].format_help().split())  # type: ignore[union-attr]
        assert "--workers N" in text and "ray://HOST:10001" in text
    assert main(["predict", "DIR", "x.npy", "--transport", "sim", "--workers", "2"]) == 2
    assert "Ray workers cannot use it" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray with 2 CPUs for the module; kiln uses it and leaves it running."""
    from kiln._ray import ray_session

    with ray_session(2, None):
        yield


def test_sharded_predict_equals_one_process(tiny: Any, local_ray: None) -> None:
    rt = kiln.load(tiny.path)
    x = np.random.default_rng(1).uniform(-9, 9, size=(1001, 6))  # 3 shards of 334, 334, 333
    for raw in (True, False):
        alone = rt.predict(x, device="cpu", raw=raw)
        sharded = rt.predict(x, device="cpu", raw=raw, workers=2, shards=3)
        assert sharded.dtype == alone.dtype and sharded.shape == alone.shape == (1001, 3)
        assert np.array_equal(sharded, alone)


def test_failing_shard_is_reported_with_its_range(tiny: Any, local_ray: None) -> None:
    x = np.random.default_rng(2).uniform(-9, 9, size=(1001, 6))
    x[500, 4] = np.nan   # shard 1 holds samples 334..667; NaN has no fixed-point code
    with pytest.raises(ShardError) as caught:
        kiln.load(tiny.path).predict(x, device="cpu", workers=2, shards=3)
    (failure,) = caught.value.failures
    assert (failure.shard.start, failure.shard.stop, failure.attempts) == (334, 668, 1)
    assert "InputShapeError" in failure.error and "sample 500, element 4" in failure.error
    assert "shard 1 (samples 334..667)" in str(caught.value)


def test_dead_worker_shard_is_sent_again(tmp_path: Path, local_ray: None) -> None:
    marker = str(tmp_path / "died-once")

    def crash_once(first: int) -> int:   # a closure: Ray ships it by value
        if first == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)   # the worker process dies, as when it is killed
        return first * 10

    shards = [Shard(i, i, i + 1) for i in range(5)]
    run = run_shards(crash_once, shards, lambda s: (s.start,), workers=2, address=None,
                     what="test", retries=1)
    assert run.ordered("test", 5) == [0, 10, 20, 30, 40]
    assert os.path.exists(marker)
