"""After a timeout or a short read the fpga driver drains the link, whoever opened it, so the
next call returns its own rows; a timeout must be a positive number of seconds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.artifact import TopSources
from kiln.errors import DeviceError
from kiln.runtime import Driver, LinkFormat, SimulatedTransport, Transport, TransportTimeout
from kiln.sim import Emulator, StallPattern

pytestmark = pytest.mark.verilator


@pytest.fixture(scope="module")
def rig(tiny_artifact: Any) -> tuple[Any, Emulator, TopSources]:
    path = tiny_artifact.path
    return kiln.load(path), Emulator.build(path / "rtl", path / "sim"), TopSources.load(path)


def _codes(rt: Any, n: int, seed: int) -> np.ndarray:
    t = rt.graph.input.out_type
    return np.random.default_rng(seed).integers(t.min_code, t.max_code + 1, size=(n, 16))


@pytest.mark.parametrize("link", ["serial", "pynq"])
def test_the_call_after_a_timeout_gets_its_own_rows(rig: Any, link: str) -> None:
    rt, emulator, design = rig
    board = getattr(SimulatedTransport, link)(emulator, design, StallPattern(0.3, 0.3, seed=3))
    fpga = rt.device("fpga")
    fpga.attach(board, timeout_s=1e-9)     # no board answers that fast
    first, second = _codes(rt, 40, seed=1), _codes(rt, 40, seed=2)
    with pytest.raises(TransportTimeout):
        fpga.run(first)
    fpga.attach(board, timeout_s=5.0)      # the same link, still open
    try:
        got = fpga.run(second).outputs
    finally:
        board.close()
    assert np.array_equal(got, rt.device("fpga-sim").run(second).outputs)


class _StaleLink(Transport):
    """A link that answers late: a timed-out call's rows come with the next read."""

    def __init__(self, link: LinkFormat) -> None:
        self.link = link
        self.closed = False

    @property
    def name(self) -> str:
        return "stale link"

    def write(self, data: bytes) -> None:
        pass

    def read(self, nbytes: int, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        self.closed = True


def test_a_link_that_cannot_be_reset_is_closed(rig: Any) -> None:
    link = _StaleLink(LinkFormat.uart(rig[2]))
    with pytest.raises(TransportTimeout):
        Driver(link, timeout_s=0.05).run(np.zeros((3, 16), dtype=np.int64))
    assert link.closed


@pytest.mark.parametrize("timeout", [0, 0.0, -1.0, math.nan, math.inf, "2"])
def test_attach_refuses_a_timeout_that_is_not_positive(rig: Any, timeout: Any) -> None:
    with pytest.raises(DeviceError, match=r"attach\(timeout_s=.*\): give a positive number"):
        rig[0].device("fpga").attach("sim", timeout_s=timeout)
