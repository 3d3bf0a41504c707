"""Hand-written DUTs for the kiln.sim tests, following the kiln_top contract.

``fixtures/pairsum.v`` computes out[i] = in[i] + in[(i+1) % N] through a 3-stage pipeline
with a global stall enable. Each fixture directory wraps it as kiln_top with its own
geometry (``rtl.json``); ``wide_drop`` is deliberately broken: it loses samples whenever
the output side stalls.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"


def make_rtl(dest: Path, variant: str) -> Path:
    """An RTL directory for fixture ``variant`` (kiln_top.v, pairsum.v, files.f, rtl.json)."""
    rtl = dest / variant / "rtl"
    shutil.copytree(FIXTURES / variant, rtl)
    shutil.copy(FIXTURES / "pairsum.v", rtl / "pairsum.v")
    return rtl


def pairsum(codes: np.ndarray) -> np.ndarray:
    """What the fixture DUTs compute (outputs are one bit wider, so nothing overflows)."""
    return codes + np.roll(codes, -1, axis=1)


def random_codes(seed: int, n: int, elems: int, width: int, signed: bool) -> np.ndarray:
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    return np.random.default_rng(seed).integers(lo, hi, size=(n, elems), dtype=np.int64)
