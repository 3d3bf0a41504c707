"""Fixtures for the flow tests (helpers in flow_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_helpers import make_artifact


@pytest.fixture
def tiny_artifact(tmp_path: Path) -> Path:
    return make_artifact(tmp_path / "tiny")
