"""Common-subexpression elimination over a constant matrix-vector product.

Each output of ``y = x @ W`` starts as a sum of signed, shifted inputs: the non-adjacent
form of every weight, one term per non-zero digit. The greedy pass below then finds the
pair of terms that occurs most often across the outputs (the same two variables at the same
relative shift and relative sign), makes it a new variable ``a + sign * (b << shift)``,
and puts that variable in place of every occurrence; it repeats until no pair occurs twice.

Sharing must not cost latency: an output whose terms have adder depths ``d_i`` sums in a
tree (two shallowest first) of depth ``ceil(log2(sum(2 ** d_i)))``, so each output has a
weight ``sum(2 ** d_i)``, and a pair is replaced in an output only while that weight stays
within ``2 ** max_depth`` (two terms of equal depth weigh what their sum does: free).
Each adder it creates replaces at least two, so the count of adders only falls. This is
the classic multiple-constant-multiplication heuristic (Hartley's CSE over canonical signed
digits) that da4ml also starts from; kiln's own implementation, pure Python.

Counts are kept incrementally (a pair's count changes only in the outputs an extraction
touches) and the best pair comes from a heap with lazy deletion, so a 64 x 32 layer of
16-bit weights takes seconds, not minutes. Among equally frequent pairs the shallower new
variable wins (fewer adder levels, so no more latency than a plain tree would need).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: Above this many digits in one matrix, the search is skipped (plain adder trees, still
#: sign-folded and range-sized): its cost grows with the digits per output squared.
MAX_CSE_DIGITS = 200_000


@dataclass(frozen=True, order=True)
class Term:
    """``sign * (var << shift)``: a signed, shifted variable in one output's sum."""

    var: int
    shift: int
    sign: int


@dataclass(frozen=True)
class Add:
    """A new variable ``a + sign * (b << shift)`` (``shift >= 0``)."""

    a: int
    b: int
    shift: int
    sign: int


Pattern = tuple[int, int, int, int]  # (a, b, shift of b relative to a, relative sign)


def naf(w: int) -> list[tuple[int, int]]:
    """``w`` in non-adjacent form: (sign, shift) digits, ``w = sum(sign << shift)``; at most
    one digit in two bits is non-zero."""
    digits, shift = [], 0
    while w:
        if w & 1:
            digit = 2 - (w & 3)
            digits.append((digit, shift))
            w -= digit
        w >>= 1
        shift += 1
    return digits


def columns_of(weight: Sequence[Sequence[int]]) -> list[list[Term]]:
    """Each output's terms from an ``n_in x n_out`` integer matrix (input ``i`` is var ``i``)."""
    n_in = len(weight)
    n_out = len(weight[0]) if n_in else 0
    return [[Term(i, k, sign) for i in range(n_in) for sign, k in naf(int(weight[i][j]))]
            for j in range(n_out)]


def _pattern(t1: Term, t2: Term) -> tuple[Pattern, Term]:
    """The pair's pattern, and which of the two is its base (the lower shift)."""
    low, high = (t1, t2) if (t1.shift, t1.var) <= (t2.shift, t2.var) else (t2, t1)
    return (low.var, high.var, high.shift - low.shift, low.sign * high.sign), low


@dataclass
class Extraction:
    """The result: the new variables in order (var ``n_vars + k`` is ``adds[k]``), each
    output's remaining terms, and every variable's depth in adder levels."""

    adds: list[Add]
    columns: list[list[Term]]
    depth: list[int]


def tree_depth(weight: int) -> int:
    """The depth of the shallowest adder tree over terms of total weight ``weight``."""
    return max(weight - 1, 0).bit_length()


def extract_common(columns: list[list[Term]], depth: Sequence[int],
                   max_depth: int | None = None, enabled: bool = True) -> Extraction:
    """Greedy CSE over ``columns`` whose variables ``0 .. len(depth) - 1`` have the given
    adder depths; every output's sum stays within ``max_depth`` adder levels (default: the
    deepest output's without sharing). With ``enabled`` False (or above MAX_CSE_DIGITS)
    the columns come back as they are."""
    depth = list(depth)
    columns = [sorted(c) for c in columns]
    weights = [sum(1 << depth[t.var] for t in c) for c in columns]
    if max_depth is None:
        max_depth = tree_depth(max(weights, default=0))
    room = [(1 << max_depth) - w for w in weights]
    adds: list[Add] = []
    if not enabled or sum(len(c) for c in columns) > MAX_CSE_DIGITS:
        return Extraction(adds, columns, depth)
    count: Counter[Pattern] = Counter()
    for column in columns:
        for k, t1 in enumerate(column):
            for t2 in column[k + 1:]:
                count[_pattern(t1, t2)[0]] += 1
    heap = [(-n, max(depth[p[0]], depth[p[1]]), p) for p, n in count.items() if n > 1]
    heapq.heapify(heap)
    while heap:
        negative, _, pattern = heapq.heappop(heap)
        if count[pattern] != -negative:  # stale entry
            continue
        if -negative < 2:
            break
        a, b, shift, sign = pattern
        var = len(depth)
        replaced = 0
        touched: set[Pattern] = set()
        for j, column in enumerate(columns):
            cost = (2 << max(depth[a], depth[b])) - (1 << depth[a]) - (1 << depth[b])
            column, n = _replace(column, pattern, var, count, touched,
                                 room[j] // cost if cost else len(column))
            columns[j] = column
            room[j] -= n * cost
            replaced += n
        if replaced < 2:  # overlapping pairs: fewer than two real uses; undo nothing, skip
            if replaced:
                adds.append(Add(a, b, shift, sign))
                depth.append(max(depth[a], depth[b]) + 1)
            for p in touched:
                if count[p] > 1:
                    heapq.heappush(heap, (-count[p], _depth_of(p, depth), p))
            continue
        adds.append(Add(a, b, shift, sign))
        depth.append(max(depth[a], depth[b]) + 1)
        for p in touched:
            if count[p] > 1:
                heapq.heappush(heap, (-count[p], _depth_of(p, depth), p))
    return Extraction(adds, columns, depth)


def _depth_of(pattern: Pattern, depth: list[int]) -> int:
    return max(depth[pattern[0]], depth[pattern[1]])


def _replace(column: list[Term], pattern: Pattern, var: int, count: Counter[Pattern],
             touched: set[Pattern], most: int) -> tuple[list[Term], int]:
    """Replace up to ``most`` non-overlapping occurrences of ``pattern`` in ``column`` by
    ``var``, keeping ``count`` right for every pair the change removes or adds."""
    a, b, shift, sign = pattern
    if most < 1 or a not in {t.var for t in column}:
        return column, 0
    free = list(column)
    pairs: list[tuple[Term, Term]] = []
    present = set(free)
    for low in sorted(free):
        if len(pairs) == most:
            break
        if low.var != a or low not in present:
            continue
        high = Term(b, low.shift + shift, low.sign * sign)
        if high == low or high not in present:
            continue
        present.discard(low)
        present.discard(high)
        pairs.append((low, high))
    if not pairs:
        return column, 0
    removed = [t for pair in pairs for t in pair]
    for t in removed:
        free.remove(t)
    for k, t1 in enumerate(removed):  # pairs among the removed terms
        for t2 in removed[k + 1:]:
            _bump(count, touched, _pattern(t1, t2)[0], -1)
    for t1 in removed:
        for t2 in free:
            _bump(count, touched, _pattern(t1, t2)[0], -1)
    added = [Term(var, low.shift, low.sign) for low, _ in pairs]
    for k, t1 in enumerate(added):
        for t2 in added[k + 1:] + free:
            _bump(count, touched, _pattern(t1, t2)[0], +1)
    return sorted(free + added), len(pairs)


def _bump(count: Counter[Pattern], touched: set[Pattern], pattern: Pattern, by: int) -> None:
    count[pattern] += by
    touched.add(pattern)
