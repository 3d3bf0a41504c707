"""Codes in and out of beats: range checks, beat integers and bytes, one packing."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.artifact import (
    TopContract,
    as_input_codes,
    beat_bytes,
    code_range,
    pack_beats,
    pack_samples,
    unpack_beats,
    unpack_samples,
)
from kiln.errors import InputShapeError


@pytest.mark.parametrize(("width", "signed"), [(1, False), (1, True), (2, True), (7, True),
                                               (13, True), (33, False), (62, True), (63, True),
                                               (64, True), (64, False)])
def test_pack_unpack_round_trip(width: int, signed: bool) -> None:
    lo, hi = code_range(width, signed)
    rng = np.random.default_rng(width)
    codes = rng.integers(max(lo, -(2**63)), min(hi, 2**63 - 1), size=(20, 5), endpoint=True)
    codes[0, :2] = [max(lo, -(2**63)), min(hi, 2**63 - 1)]
    beats = pack_beats(codes, width)
    assert all(0 <= b < 1 << (5 * width) for b in beats)
    assert np.array_equal(unpack_beats(beats, 5, width, signed), codes)
    data = pack_samples(codes, width, signed)
    assert len(data) == 20 * beat_bytes(5, width)
    assert data == b"".join(b.to_bytes(beat_bytes(5, width), "little") for b in beats)
    assert np.array_equal(unpack_samples(data, 20, 5, width, signed), codes)
    assert np.array_equal(unpack_samples(data, None, 5, width, signed), codes)


def test_layout_is_little_endian_twos_complement() -> None:
    assert pack_beats(np.array([[1, -1, -2]]), 4) == [0xEF1]
    assert unpack_beats([0xEF1], 3, 4, True).tolist() == [[1, -1, -2]]
    assert unpack_beats([0xEF1], 3, 4, False).tolist() == [[1, 15, 14]]
    assert unpack_beats([0x1EF1], 3, 4, False).tolist() == [[1, 15, 14]]  # bits above: ignored
    # docs/bitstream.md: four signed 6-bit inputs (-7, 3, 0, 31) -> 24 bits -> 3 bytes.
    assert pack_samples([[-7, 3, 0, 31]], 6, True) == bytes([0xF9, 0x00, 0x7C])
    # 3 x 3 bits = 9 bits -> 2 bytes: 7 in bits 0-2, 0 in 3-5, 5 in 6-8; bits 9..15 are zero
    assert pack_samples(np.array([[7, 0, 5]]), 3, False) == bytes([0x47, 0x01])
    assert unpack_samples(bytes([0x47, 0xFF]), 1, 3, 3, False).tolist() == [[7, 0, 5]]


def test_out_of_range_codes_are_refused_unless_wrapping() -> None:
    with pytest.raises(InputShapeError, match=r"code 32 at sample 0, element 0 .*6-bit signed"):
        pack_samples([[32, 0]], 6, True)
    with pytest.raises(InputShapeError, match="4-bit unsigned"):
        pack_samples([[-1]], 4, False)
    assert pack_samples([[32]], 6, True, on_overflow="wrap") == pack_samples([[-32]], 6, True)


def test_shape_errors() -> None:
    with pytest.raises(InputShapeError, match="take 6 bytes, not 5"):
        unpack_samples(bytes(5), 2, 4, 6, True)
    with pytest.raises(InputShapeError, match="whole number"):
        unpack_samples(bytes(5), None, 4, 6, True)
    with pytest.raises(InputShapeError, match="integer codes"):
        pack_samples(np.zeros((2, 3)), 4, True)
    with pytest.raises(InputShapeError, match="width"):
        beat_bytes(2, 0)


def test_input_codes_are_checked() -> None:
    c = TopContract(in_elems=4, in_width=8, in_signed=False, out_elems=4, out_width=9,
                    out_signed=False, latency=3, ii=1)
    ok = as_input_codes(np.full((2, 2, 2), 255, dtype=np.int32), c)
    assert ok.dtype == np.int64 and ok.shape == (2, 4) and ok.flags.c_contiguous
    with pytest.raises(InputShapeError, match=r"Input code 256 at sample 1, element 3 .*"
                                              r"8-bit unsigned \[0, 255\]"):
        as_input_codes(np.array([[0, 0, 0, 0], [0, 0, 0, 256]]), c)
    assert as_input_codes(np.array([[-1, 0, 0, 256]]), c, on_overflow="wrap").shape == (1, 4)
    with pytest.raises(InputShapeError, match="integer codes, not dtype float64"):
        as_input_codes(np.zeros((1, 4)), c)
    with pytest.raises(InputShapeError, match=r"shape \(1, 5\); the design takes \(n, 4\)"):
        as_input_codes(np.zeros((1, 5), dtype=np.int64), c)
