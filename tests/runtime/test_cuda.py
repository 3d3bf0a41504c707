"""kiln.fixed on CUDA: the same integer codes as on CPU and in the HLS C simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kiln
from kiln.errors import DeviceError

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(),
                               reason="no CUDA device (torch.cuda.is_available() is False)")


@pytest.fixture(scope="module")
def runtime(digits_artifact):  # type: ignore[no-untyped-def]
    return kiln.load(digits_artifact.path)


@pytest.mark.gpu
@needs_gpu
def test_cuda_equals_cpu_and_hls(runtime, digits_data) -> None:  # type: ignore[no-untyped-def]
    x = np.concatenate([digits_data[1],
                        np.random.default_rng(0).uniform(-1, 2.5, size=(5000, 64))])
    cuda = runtime.predict(x, device="cuda", raw=True)
    assert np.array_equal(cuda, runtime.predict(x, device="cpu", raw=True))
    assert np.array_equal(cuda, runtime.predict(x, device="hls", raw=True))
    assert runtime.resolve("auto") == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_absent_is_a_clear_error(runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeviceError, match=r"CUDA GPU.*device='cpu'"):
        runtime.predict(np.zeros(64), device="cuda")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("accel", ["eager", "graphs", "compile", "compile+graphs"])
def test_every_way_of_running_on_cuda_gives_the_cpu_codes(
        runtime, accel: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """kiln.fixed alone (two batch sizes, so CUDA graphs capture twice and torch.compile
    compiles for dynamic shapes) and through Runtime.predict with $KILN_FIXED_ACCEL."""
    from kiln.fixed import ACCEL_ENV, execute

    t = runtime.graph.input.out_type
    codes = torch.from_numpy(np.random.default_rng(1).integers(
        t.min_code, t.max_code + 1, size=(3000, runtime.graph.input.size)))
    for n in (3000, 1234, 3000):
        want = execute(runtime.graph, codes[:n])["output"]
        got = execute(runtime.graph, codes[:n].cuda(), accel=accel)["output"]
        assert got.device.type == "cuda" and torch.equal(got.cpu(), want)
    monkeypatch.setenv(ACCEL_ENV, accel)
    x = np.random.default_rng(2).uniform(-1, 2.5, size=(5000, 64))
    assert np.array_equal(runtime.predict(x, device="cuda", raw=True),
                          runtime.predict(x, device="cpu", raw=True))
