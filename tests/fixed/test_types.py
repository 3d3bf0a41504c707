from __future__ import annotations

import pytest

from kiln.errors import KilnError, PrecisionError
from kiln.ir import FixedType


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed<16,6>", FixedType(16, 6)),
        ("ap_ufixed<6,0,AP_RND_CONV,AP_SAT>", FixedType(6, 0, False, "RND_CONV", "SAT")),
        ("fixed<6,2,RND_CONV,SAT,0>", FixedType(6, 2, True, "RND_CONV", "SAT")),
        ("fixed<4,-1>", FixedType(4, -1)),
        ("int<8>", FixedType(8, 8)),
        ("uint<4>", FixedType(4, 4, False)),
    ],
)
def test_parse(text: str, expected: FixedType) -> None:
    assert FixedType.parse(text) == expected
    assert FixedType.parse(str(expected)) == expected


def test_ranges_and_hls_spelling() -> None:
    t = FixedType(6, 2, True, "RND_CONV", "SAT")
    assert (t.frac, t.min_code, t.max_code, t.lsb) == (4, -32, 31, 1 / 16)
    assert t.hls() == "ap_fixed<6,2,AP_RND_CONV,AP_SAT>"
    u = FixedType(6, 0, False)
    assert (u.min_code, u.max_code, u.hls()) == (0, 63, "ap_ufixed<6,0>")


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"width": 0, "integer": 0}, "0"),
        ({"width": 99, "integer": 3}, "99"),
        ({"width": 8, "integer": 2, "rounding": "ROUND"}, "'ROUND'"),
        ({"width": 8, "integer": 2, "overflow": "CLIP"}, "'CLIP'"),
        ({"width": "8", "integer": 2}, "'8'"),
    ],
)
def test_impossible_types_quote_the_bad_value(kwargs: dict, quoted: str) -> None:
    with pytest.raises(PrecisionError, match=quoted):
        FixedType(**kwargs)


@pytest.mark.parametrize("text", ["float32", "fixed<>", "fixed<8,2,RND,SAT,3>", "fixed<a,b>"])
def test_unparseable_types(text: str) -> None:
    with pytest.raises(KilnError):
        FixedType.parse(text)
