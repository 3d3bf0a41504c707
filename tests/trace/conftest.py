"""Fixtures for the trace tests: the small digits MLP compiled once, a cache for the traced
builds, and a few test images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def small_artifact(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """models/digits_mlp_small.h5 (64-16-10, QKeras) compiled: about 20 s."""
    import kiln

    return kiln.compile(str(REPO / "models" / "digits_mlp_small.h5"),
                        tmp_path_factory.mktemp("trace") / "digits_mlp_small")


@pytest.fixture(scope="session")
def trace_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' traced builds go (never the user's cache or the artifact)."""
    return tmp_path_factory.mktemp("trace-cache")


@pytest.fixture(scope="session")
def images() -> Any:
    """Eight test images of the digits split."""
    from models.data import digits_split

    return digits_split()[1][:8]
