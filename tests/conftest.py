"""Shared fixtures: the shipped models, compiled once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits_model():  # type: ignore[no-untyped-def]
    from kiln.frontend import load_keras

    return load_keras(REPO / "models" / "digits_mlp.h5").model


@pytest.fixture(scope="session")
def digits_data():  # type: ignore[no-untyped-def]
    from models.data import digits_split

    return digits_split()


@pytest.fixture(scope="session")
def digits_artifact(tmp_path_factory):  # type: ignore[no-untyped-def]
    import kiln

    return kiln.compile(str(REPO / "models" / "digits_mlp.h5"),
                        tmp_path_factory.mktemp("art") / "digits_mlp")


@pytest.fixture(scope="session")
def jet_model_path() -> Path:
    from models.shipped import EXAMPLE_MODELS

    path = EXAMPLE_MODELS / "qkeras_3layer.json"
    if not path.is_file():
        pytest.skip(f"hls4ml example models not found at {path}")
    return path
