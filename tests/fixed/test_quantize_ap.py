"""kiln.fixed.requantize and from_float against ap_fixed itself (g++ and hls4ml's ap_types).

Every rounding x overflow mode, signed and unsigned, narrowing, widening and shifting casts;
the check is integer equality of the codes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ap_harness import Case, build, cpp_type

from kiln.fixed import from_float, requantize
from kiln.ir import OVERFLOW_MODES, ROUNDING_MODES, FixedType

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))

# Sources given every code (exhaustive) or random codes (wide types).
SOURCES = [FixedType(10, 4), FixedType(10, 4, signed=False)]
WIDE_SOURCE = FixedType(48, 20)
# Destination shapes (width, integer, signed), each in every rounding x overflow mode:
# narrowing (3 fraction and 2 integer bits fewer) from both sources; negative integer bits and
# integer bits beyond the width from the signed source; and pure widening.
SHAPES = [(5, 2, True), (5, 2, False)]
SIGNED_SOURCE_SHAPES = [(4, -1, False), (4, 6, True)]
WIDENING = [FixedType(16, 8), FixedType(16, 8, False, "RND_CONV", "SAT"),
            FixedType(12, 4, True, "RND", "SAT_SYM"), FixedType(14, 7, False)]
WIDE_SHAPE = (30, 10, True)
FLOAT_SHAPES = [(5, 2, True), (5, 2, False), (40, 12, True), (6, -3, False)]


def _destinations(shapes: list[tuple[int, int, bool]]) -> list[FixedType]:
    return [FixedType(w, i, signed, q, o) for (w, i, signed), (q, o)
            in itertools.product(shapes, MODES)]


def _cast_case(src: FixedType, dst: FixedType) -> Case:
    return Case(f"""
    for (long long k = 0; k < n; ++k) {{
        {cpp_type(src)} x; x.V = in[k];
        {cpp_type(dst)} y = x;
        out.push_back(y.V.to_int64());
    }}""")


def _float_case(dst: FixedType) -> Case:
    return Case(f"""
    for (long long k = 0; k < n; ++k) {{
        double d; std::memcpy(&d, &in[k], sizeof d);
        {cpp_type(dst)} y = d;
        out.push_back(y.V.to_int64());
    }}""")


def _all_codes(t: FixedType) -> np.ndarray:
    return np.arange(t.min_code, t.max_code + 1, dtype=np.int64)


def _float_values(rng: np.random.Generator) -> np.ndarray:
    specials = [0.0, -0.0, np.inf, -np.inf, 1e-300, -1e-300, 1e300, -1e300, 2.0**61, -2.0**61,
                2.0**62 + 2.0**40, -(2.0**63), 3.0 * 2.0**70, 5e-324, -5e-324,
                2.0**33 + 2.0**-19, -(2.0**34) - 3 * 2.0**-18, 2.0**40 + 2.0**-12,
                0.5, -0.5, 1.5, -1.5, 2.5, -2.5]
    ties = rng.integers(-2**12, 2**12, 3000) / 2.0**8  # exact halves, quarters, ... of LSBs
    spread = rng.uniform(-300, 300, 3000) * 2.0 ** rng.integers(-12, 4, 3000)
    return np.concatenate([specials, ties, spread]).astype(np.float64)


@pytest.fixture(scope="module")
def ap_casts():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    plan: list[tuple[str, FixedType | None, FixedType, np.ndarray]] = []
    for src in SOURCES:
        extra = _destinations(SIGNED_SOURCE_SHAPES) if src.signed else []
        for dst in _destinations(SHAPES) + extra + WIDENING:
            plan.append(("cast", src, dst, _all_codes(src)))
    wide_codes = np.concatenate([
        rng.integers(WIDE_SOURCE.min_code, WIDE_SOURCE.max_code, 4000, dtype=np.int64),
        [WIDE_SOURCE.min_code, WIDE_SOURCE.max_code, 0, -1, 1]])
    for dst in _destinations([WIDE_SHAPE]):
        plan.append(("cast", WIDE_SOURCE, dst, wide_codes))
    values = _float_values(rng)
    for dst in _destinations(FLOAT_SHAPES):
        plan.append(("float", None, dst, values))
    cases = [_cast_case(src, dst) if kind == "cast" else _float_case(dst)
             for kind, src, dst, _ in plan]
    program = build(cases, opt="-O0")
    return plan, program.run([inputs for *_, inputs in plan])


def _mismatches(plan, outputs, kind: str) -> list[str]:  # type: ignore[no-untyped-def]
    bad = []
    for (k, src, dst, inputs), expected in zip(plan, outputs, strict=True):
        if k != kind:
            continue
        if kind == "cast":
            got = requantize(torch.from_numpy(inputs), src.frac, dst).numpy()
        else:
            got = from_float(torch.from_numpy(inputs), dst).numpy()
        wrong = np.flatnonzero(got != expected)
        if wrong.size:
            j = wrong[0]
            bad.append(f"{src} -> {dst}: {wrong.size} codes differ, e.g. input {inputs[j]!r}: "
                       f"kiln {got[j]} ap_fixed {expected[j]}")
    return bad


def test_requantize_equals_ap_fixed_casts(ap_casts) -> None:  # type: ignore[no-untyped-def]
    plan, outputs = ap_casts
    assert sum(k == "cast" for k, *_ in plan) == 2 * (2 * 28 + 4) + 2 * 28 + 28
    bad = _mismatches(plan, outputs, "cast")
    assert not bad, "\n".join(bad[:400])


def test_from_float_equals_ap_fixed_double_constructor(ap_casts) -> None:  # type: ignore[no-untyped-def]
    plan, outputs = ap_casts
    bad = _mismatches(plan, outputs, "float")
    assert not bad, "\n".join(bad[:400])
