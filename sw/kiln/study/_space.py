"""Search spaces: a grid (every combination) or random points of a mapping of choices."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import KilnError

STRATEGIES = ("grid", "random")


class SpaceError(KilnError):
    """A search space that is empty, malformed, or names an unknown strategy."""


@dataclass(frozen=True)
class SearchSpace:
    """Choices per configuration key and how to draw points from them.

    Attributes:
        choices: each key's candidate values (a list; a single value is one choice).
        strategy: ``"grid"`` (every combination) or ``"random"`` (``samples`` distinct
            combinations drawn with ``seed``).
        samples: how many points the random strategy draws.
        seed: the random strategy's seed.
    """

    choices: Mapping[str, Sequence[Any]]
    strategy: str = "grid"
    samples: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise SpaceError(f"Unknown search strategy {self.strategy!r}; choose from "
                             f"{', '.join(STRATEGIES)}")
        if not self.choices:
            raise SpaceError("The search space has no keys; give e.g. {'bits': [4, 8]}")
        empty = [k for k, v in self.choices.items() if not len(v)]
        if empty:
            raise SpaceError(f"The search space gives no values for {empty}")
        if self.strategy == "random" and self.samples < 1:
            raise SpaceError(f"A random search needs samples >= 1, not {self.samples!r}")

    @classmethod
    def of(cls, space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
        """A space from a mapping: ``{key: [values]}`` is a grid; the long form is
        ``{"strategy": "random", "samples": 16, "seed": 0, "space": {key: [values]}}``."""
        if isinstance(space, SearchSpace):
            return space
        if not isinstance(space, Mapping):
            raise SpaceError(f"A search space is a mapping of key to values, not "
                             f"{type(space).__name__}")
        if "space" in space:
            extra = sorted(set(space) - {"space", "strategy", "samples", "seed"})
            if extra:
                raise SpaceError(f"Unknown search-space field(s) {extra}; known: space, "
                                 "strategy, samples, seed")
            return cls(_choices(space["space"]), str(space.get("strategy", "grid")),
                       int(space.get("samples", 8)), int(space.get("seed", 0)))
        return cls(_choices(space))

    def points(self) -> list[dict[str, Any]]:
        """The configurations to run, in a deterministic order."""
        keys = list(self.choices)
        grid = [dict(zip(keys, values, strict=True))
                for values in itertools.product(*(self.choices[k] for k in keys))]
        if self.strategy == "grid" or self.samples >= len(grid):
            return grid
        rng = random.Random(self.seed)
        return [grid[i] for i in sorted(rng.sample(range(len(grid)), self.samples))]


def _choices(raw: Any) -> dict[str, list[Any]]:
    if not isinstance(raw, Mapping):
        raise SpaceError(f"A search space is a mapping of key to values, not "
                         f"{type(raw).__name__}")
    return {str(k): list(v) if isinstance(v, list | tuple) else [v] for k, v in raw.items()}


def load_space(path: str | Path) -> SearchSpace:
    """A search space from a YAML file (either form :meth:`SearchSpace.of` takes)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise SpaceError(f"Cannot read the search space {file}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SpaceError(f"The search space {file} is not valid YAML: {exc}") from exc
    return SearchSpace.of(raw)
