"""Fixtures for the reliability tests: one small compiled artifact, and fresh copies of it
for the tests that damage or rebuild one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

TINY_H5 = Path(__file__).resolve().parents[1] / "flows" / "fixtures" / "tiny_mlp.h5"


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The 16-8-4 QKeras MLP compiled once (seconds: its C simulation and RTL are small)."""
    import kiln

    return kiln.compile(str(TINY_H5), tmp_path_factory.mktemp("reliability") / "tiny")


@pytest.fixture
def artifact_copy(tiny_artifact: Any, tmp_path: Path) -> Path:
    """A private copy of the compiled artifact (without its emulator cache)."""
    dest = tmp_path / "tiny"
    shutil.copytree(tiny_artifact.path, dest, ignore=shutil.ignore_patterns("sim"))
    return dest
