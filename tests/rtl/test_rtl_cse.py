"""Common-subexpression elimination: the shared adders still compute every output exactly,
never cost more adders than plain trees, and find sharing where it exists."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.rtl._cse import Extraction, Term, columns_of, extract_common, naf, tree_depth


def _values(found: Extraction, n_in: int) -> list[np.ndarray]:
    """Each variable as its integer coefficients over the inputs."""
    values = [np.eye(n_in, dtype=object)[i] for i in range(n_in)]
    for add in found.adds:
        values.append(values[add.a] + add.sign * values[add.b] * (1 << add.shift))
    return values


def _column_sum(values: list[np.ndarray], column: list[Term]) -> np.ndarray:
    total = np.zeros(len(values[0]), dtype=object)
    for t in column:
        total = total + t.sign * values[t.var] * (1 << t.shift)
    return total


def _adders(found: Extraction) -> int:
    return len(found.adds) + sum(max(len(c) - 1, 0) for c in found.columns)


@pytest.mark.parametrize("seed", range(20))
def test_outputs_stay_exact_and_adders_only_fall(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_in, n_out = (int(v) for v in rng.integers(1, 24, size=2))
    bits = int(rng.integers(2, 12))
    weight = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n_in, n_out))
    weight[rng.random(weight.shape) < 0.3] = 0
    columns = columns_of(weight.tolist())
    plain = Extraction([], columns, [0] * n_in)
    found = extract_common(columns, [0] * n_in)
    values = _values(found, n_in)
    for j in range(n_out):
        assert list(_column_sum(values, found.columns[j])) == list(weight[:, j])
    assert _adders(found) <= _adders(plain)
    for add, depth in zip(found.adds, found.depth[n_in:], strict=True):
        assert depth == max(found.depth[add.a], found.depth[add.b]) + 1
    # sharing costs no latency: no output's tree is deeper than the deepest was without it
    deepest = max((len(c) for c in columns), default=0)
    for column in found.columns:
        assert tree_depth(sum(1 << found.depth[t.var] for t in column)) <= tree_depth(deepest)


def test_a_depth_limit_is_kept() -> None:
    rng = np.random.default_rng(7)
    weight = rng.integers(-128, 128, size=(12, 10)).tolist()
    columns = columns_of(weight)
    limit = tree_depth(max(len(c) for c in columns))
    shared = extract_common(columns, [0] * 12, max_depth=limit + 2)
    for column in shared.columns:
        assert tree_depth(sum(1 << shared.depth[t.var] for t in column)) <= limit + 2
    assert _adders(shared) <= _adders(extract_common(columns, [0] * 12))


def test_a_pair_shared_by_outputs_is_built_once() -> None:
    # outputs x0 + 2*x1 + 5*x2 and 3*x0 + 6*x1 - x2 share x0 + 2*x1 (the second shifted once)
    weight = [[1, 3], [2, 6], [5, -1]]
    found = extract_common(columns_of(weight), [0, 0, 0])
    values = _values(found, 3)
    assert any(list(v) == [1, 2, 0] for v in values[3:])
    assert _adders(found) < _adders(Extraction([], columns_of(weight), [0, 0, 0]))


def test_disabled_keeps_the_digits() -> None:
    weight = [[3, 3], [3, 3]]
    found = extract_common(columns_of(weight), [0, 0], enabled=False)
    assert found.adds == [] and found.columns == [sorted(c) for c in columns_of(weight)]


def test_non_adjacent_form() -> None:
    for v in range(-300, 300):
        digits = naf(v)
        assert sum(sign << k for sign, k in digits) == v
        shifts = sorted(k for _, k in digits)
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:], strict=False))
