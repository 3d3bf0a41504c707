"""kiln.explore search spaces: grid, random, the long form, YAML, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.study import SearchSpace, load_space
from kiln.study._space import SpaceError


def test_grid_is_every_combination_in_order() -> None:
    points = SearchSpace.of({"bits": [4, 8], "reuse_factor": [1, 4], "seed": 0}).points()
    assert points == [{"bits": 4, "reuse_factor": 1, "seed": 0},
                      {"bits": 4, "reuse_factor": 4, "seed": 0},
                      {"bits": 8, "reuse_factor": 1, "seed": 0},
                      {"bits": 8, "reuse_factor": 4, "seed": 0}]


def test_random_draws_distinct_points_reproducibly() -> None:
    space = {"strategy": "random", "samples": 5, "seed": 3,
             "space": {"bits": [3, 4, 6, 8], "sparsity": [0, 0.5, 0.8]}}
    points = SearchSpace.of(space).points()
    assert len(points) == 5 and len({tuple(p.items()) for p in points}) == 5
    assert points == SearchSpace.of(space).points()
    assert len(SearchSpace.of({**space, "samples": 100}).points()) == 12


def test_yaml(tmp_path: Path) -> None:
    file = tmp_path / "space.yml"
    file.write_text("bits: [3, 4]\ndistill: [false, true]\n")
    assert len(load_space(file).points()) == 4


@pytest.mark.parametrize("bad, message", [
    ({}, "no keys"), ({"bits": []}, "no values"), ([1, 2], "mapping"),
    ({"strategy": "anneal", "space": {"bits": [4]}}, "grid, random"),
    ({"space": {"bits": [4]}, "sampels": 3}, "sampels"),
])
def test_errors_name_the_problem(bad: object, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        SearchSpace.of(bad)  # type: ignore[arg-type]
