"""kiln.flows' UART wire format: beats as little-endian bytes, elements packed LSB first."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.errors import InputShapeError, PrecisionError
from kiln.flows import UartFormat, beat_bytes, pack_samples, unpack_outputs, unpack_samples


def test_worked_example_from_the_docs() -> None:
    # docs/bitstream.md: four signed 6-bit inputs (-7, 3, 0, 31) -> 24 bits -> 3 bytes.
    # beat = 31<<18 | 0<<12 | 3<<6 | (-7 & 63 = 57) = 0x7C00F9
    assert pack_samples([[-7, 3, 0, 31]], 6, True) == bytes([0xF9, 0x00, 0x7C])
    assert unpack_outputs(bytes([0xF9, 0x00, 0x7C]), 1, 4, 6, True).tolist() == [[-7, 3, 0, 31]]


def test_padding_bits_are_zero_and_ignored() -> None:
    # 3 x 3 bits = 9 bits -> 2 bytes: 7 in bits 0-2, 0 in 3-5, 5 in 6-8; bits 9..15 are zero
    data = pack_samples(np.array([[7, 0, 5]]), 3, False)
    assert data == bytes([0x47, 0x01])
    assert unpack_samples(bytes([0x47, 0xFF]), 1, 3, 3, False).tolist() == [[7, 0, 5]]


@pytest.mark.parametrize("width,signed", [(1, False), (1, True), (6, True), (8, False),
                                          (13, True), (16, True), (31, False), (62, True)])
def test_round_trip(width: int, signed: bool) -> None:
    rng = np.random.default_rng(width)
    low, high = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    codes = rng.integers(low, high, size=(17, 5), dtype=np.int64)
    data = pack_samples(codes, width, signed)
    assert len(data) == 17 * beat_bytes(5, width)
    assert np.array_equal(unpack_outputs(data, 17, 5, width, signed), codes)
    assert np.array_equal(unpack_outputs(data, None, 5, width, signed), codes)


def test_out_of_range_codes_are_refused_unless_wrapping() -> None:
    with pytest.raises(PrecisionError, match="does not fit a 6-bit signed"):
        pack_samples([[32, 0]], 6, True)
    with pytest.raises(PrecisionError, match="unsigned"):
        pack_samples([[-1]], 4, False)
    assert pack_samples([[32]], 6, True, on_overflow="wrap") == pack_samples([[-32]], 6, True)


def test_shape_errors() -> None:
    with pytest.raises(InputShapeError, match="take 6 bytes, not 5"):
        unpack_outputs(bytes(5), 2, 4, 6, True)
    with pytest.raises(InputShapeError, match="whole number"):
        unpack_outputs(bytes(5), None, 4, 6, True)
    with pytest.raises(InputShapeError, match="integer codes"):
        pack_samples(np.zeros((2, 3)), 4, True)
    with pytest.raises(InputShapeError, match="width"):
        beat_bytes(2, 0)


def test_format_from_rtl_meta() -> None:
    fmt = UartFormat.from_meta({"in_elems": 64, "in_width": 6, "in_signed": True,
                                "out_elems": 10, "out_width": 16, "out_signed": True})
    assert (fmt.in_bytes, fmt.out_bytes) == (48, 20)
    x = np.arange(-32, 32).reshape(1, 64)
    assert np.array_equal(fmt.decode_inputs(fmt.encode_inputs(x)), x)
    y = np.array([[-32768, 32767, 0, 1, -1, 5, 6, 7, 8, 9]])
    assert np.array_equal(fmt.decode_outputs(fmt.encode_outputs(y)), y)
    assert fmt.seconds_per_sample() == pytest.approx(480 / 115200)
    with pytest.raises(InputShapeError, match="takes 64"):
        fmt.encode_inputs(np.zeros((1, 63), dtype=np.int64))
