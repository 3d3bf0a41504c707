"""Fixtures for the flow tests (helpers in flow_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_helpers import make_artifact


@pytest.fixture
def tiny_artifact(tmp_path: Path) -> Path:
    return make_artifact(tmp_path / "tiny")


@pytest.fixture(scope="session")
def tiny_mlp_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/flows/fixtures/tiny_mlp.h5 (16-8-4, 4-bit) compiled by kiln."""
    from tiny_mlp import PATH

    import kiln

    return kiln.compile(str(PATH), tmp_path_factory.mktemp("tiny_mlp") / "tiny_mlp").path


@pytest.fixture(scope="session")
def uart_bench_tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny artifact and a work directory, both shared by the UART bench tests so that
    they share one Verilator build (about a minute on two cores). Tests must not change it."""
    root = tmp_path_factory.mktemp("uart_bench")
    return make_artifact(root / "tiny"), root / "work"
