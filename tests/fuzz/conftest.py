"""Fixtures of the fuzz suite: random models compiled once per session, by seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fuzz._check import compile_model
from tests.fuzz._generate import FuzzModel, fuzz_model


class Compiled:
    """Seed -> (model, artifact, compile seconds), each compiled at most once a session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[int, tuple[FuzzModel, Any, float]] = {}

    def __call__(self, seed: int) -> tuple[FuzzModel, Any, float]:
        if seed not in self._cache:
            model = fuzz_model(seed)
            art, seconds = compile_model(model, self.root)
            self._cache[seed] = (model, art, seconds)
        return self._cache[seed]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return Compiled(tmp_path_factory.mktemp("fuzz"))
