"""kiln verify sharded over a local 2-worker Ray: the merged report equals the one-process
report; shard tallies merge to the whole input's (counts summed, worst distance kept, first
mismatch numbered globally) even with mismatches; many artifacts fan out one per worker and
a failing one is reported by name."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.cli import main
from kiln.errors import KilnError
from kiln.runtime import ShardFailure, load
from kiln.runtime._devices import TorchDevice
from kiln.runtime._shard import split
from kiln.verify import VerificationReport, verify, verify_each
from kiln.verify._verify import BulkTally, bulk_compare

pytestmark = [pytest.mark.verilator, pytest.mark.icarus]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A 6-4-3 QKeras MLP, compiled and its Verilated design built: seconds to simulate."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    import kiln

    def weights() -> dict[str, Any]:
        return {"kernel_quantizer": quantized_bits(4, 0, alpha=1),
                "bias_quantizer": quantized_bits(4, 0, alpha=1)}

    inp = keras.Input((6,), name="x")
    x = QActivation(quantized_bits(6, 2, alpha=1), name="input_q")(inp)
    x = QDense(4, name="fc1", **weights())(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = QDense(3, name="fc2", **weights())(x)
    model = keras.Model(inp, x, name="tiny_verify")
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(-1, 1, size=w.shape) for w in model.get_weights()])
    art = kiln.compile(model, tmp_path_factory.mktemp("verify_shard") / "tiny")
    kiln.load(art.path).device("fpga-sim").run(np.zeros((1, 6), dtype=np.int64))  # build it
    return art


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from kiln._ray import ray_session

    with ray_session(2, None):
        yield


def test_merged_report_equals_one_process_report(tiny: Any, local_ray: None) -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(-9, 9, size=(1001, 6))   # 2 shards: 501 and 500 samples
    labels = rng.integers(0, 3, size=1001)
    alone = verify(tiny.path, x=x, labels=labels, protocol=False).to_dict()
    sharded = verify(tiny.path, x=x, labels=labels, protocol=False, workers=2).to_dict()
    assert sharded == alone
    assert sharded["samples"] == 1001 and 0 < sharded["accuracy"] < 1
    assert sharded["icarus_samples"] == 200


def test_shard_tallies_merge_to_the_whole_inputs(tiny: Any, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """With kiln.fixed made wrong on some samples (in this process), the tallies of 3 shards
    merge to the tally of all samples at once: mismatches summed, first mismatch global."""
    run = TorchDevice._run

    def wrong(self: TorchDevice, codes: Any) -> Any:
        result = run(self, codes)
        result.outputs[(codes[:, 0] > 0) & (codes[:, 1] % 3 == 0), 0] += 1   # by the sample alone
        return result

    monkeypatch.setattr(TorchDevice, "_run", wrong)
    runtime = load(tiny.path)
    rng = np.random.default_rng(5)
    x = rng.uniform(-9, 9, size=(1000, 6))
    x[:400, 0] = -abs(x[:400, 0])   # no mismatch before sample 400, in the second shard
    codes = runtime.input_codes(x)
    labels = rng.integers(0, 3, size=1000)
    whole = bulk_compare(runtime, codes, labels)
    parts = [bulk_compare(runtime, codes[s.start:s.stop], labels[s.start:s.stop], s.start)
             for s in split(1000, 3)]
    merged = BulkTally.merge(parts, runtime.graph.output.out_type.lsb)
    assert whole.rtl_vs_cpu > 0 and whole.first_mismatch is not None
    assert 400 <= whole.first_mismatch < 667 and parts[0].first_mismatch is None
    for name in ("samples", "rtl_vs_hls", "rtl_vs_cpu", "rtl_vs_reference", "first_mismatch",
                 "distance", "argmax_agree", "correct"):
        assert getattr(merged, name) == getattr(whole, name), name
    assert np.array_equal(merged.head, whole.head) and len(merged.head) == 300


def test_many_artifacts_one_per_worker_and_a_failure_named(
        tiny: Any, local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny.path, copy)   # a second artifact: the same one twice is refused
    missing = tmp_path / "not_an_artifact"
    results = verify_each([tiny.path, missing, copy], workers=2, samples=300, protocol=False)
    assert [type(r).__name__ for r in results] == [
        "VerificationReport", "ShardFailure", "VerificationReport"]
    failure = results[1]
    assert isinstance(failure, ShardFailure) and str(missing) in str(failure.shard)
    assert "ArtifactError" in failure.error and failure.attempts == 1
    assert all(isinstance(r, VerificationReport) and r.passed and r.samples == 300
               for r in (results[0], results[2]))
    assert main(["verify", str(copy), str(missing), "--workers", "2", "--samples", "300",
                 "--no-protocol"]) == 1
    out = capsys.readouterr().out
    assert f"artifact {missing}: FAILED after 1 attempt(s): ArtifactError" in out
    assert f"{results[0].model} " in out and "PASS" in out
    with pytest.raises(KilnError, match="given twice"):
        verify_each([copy, copy / ".." / "copy"], workers=2)
