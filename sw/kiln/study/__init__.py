"""Design-space exploration behind ``kiln.explore``: train, compile, verify and cost every
point of a space of recipe configurations, in parallel on Ray, cached by content hash; a
table, the Pareto front (accuracy against LUTs against latency) and a plot.

The package is ``kiln.study`` so that ``kiln.explore`` stays the function.
"""

from __future__ import annotations

from kiln.study._run import explore
from kiln.study._space import SearchSpace, load_space
from kiln.study._study import Study
from kiln.study._trial import COMPILE_KEYS, Recipe, TrialResult, run_trial, trial_key

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
