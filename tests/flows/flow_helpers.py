"""Helpers for the flow tests: the tiny stand-in kiln_top (4 x 6-bit signed inputs, 2 x 10-bit
signed outputs, latency 2), its numpy reference, and artifact-shaped copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
TINY = HERE / "fixtures" / "tiny"
STUB = HERE / "vivado_stub"


def tiny_reference(x: np.ndarray) -> np.ndarray:
    """What the stand-in computes: y0 = x0 + 2 x1 - x2 + 3 x3, y1 = x0 - x1 + x2 - x3."""
    x = np.asarray(x, dtype=np.int64)
    y0 = x[:, 0] + 2 * x[:, 1] - x[:, 2] + 3 * x[:, 3]
    y1 = x[:, 0] - x[:, 1] + x[:, 2] - x[:, 3]
    return np.stack([y0, y1], axis=1)


def make_artifact(root: Path, rtl: Path = TINY) -> Path:
    """An artifact directory holding ``rtl/`` copied from ``rtl``."""
    shutil.copytree(rtl, root / "rtl")
    return root
