"""Fixtures for the fixed-point tests: hls4ml's activations run in C++ once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nnet_results():  # type: ignore[no-untyped-def]
    from nnet_cases import run_all

    return run_all()
