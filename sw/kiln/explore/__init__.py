"""Design-space exploration: train, compile, verify and cost every point of a space of
recipe configurations, in parallel on Ray, cached by content hash; a table, the Pareto front
(accuracy against LUTs against latency) and a plot.

``kiln.explore("models/digits_mlp.py", space={"bits": [4, 8], "reuse_factor": [1, 4]})``
"""

from __future__ import annotations

from kiln.explore._run import explore
from kiln.explore._space import SearchSpace, load_space
from kiln.explore._study import Study
from kiln.explore._trial import COMPILE_KEYS, Recipe, TrialResult, run_trial, trial_key

__all__ = [
    "COMPILE_KEYS",
    "Recipe",
    "SearchSpace",
    "Study",
    "TrialResult",
    "explore",
    "load_space",
    "run_trial",
    "trial_key",
]
