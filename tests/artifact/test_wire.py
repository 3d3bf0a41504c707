"""The link wire format of a design (UART bridge, DMA buffers)."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.artifact import TopContract, WireFormat
from kiln.errors import InputShapeError


def test_format_of_a_contract() -> None:
    fmt = WireFormat.of(TopContract(in_elems=64, in_width=6, in_signed=True, out_elems=10,
                                    out_width=16, out_signed=True, latency=9, ii=1))
    assert (fmt.in_bytes, fmt.out_bytes) == (48, 20)
    x = np.arange(-32, 32).reshape(1, 64)
    assert np.array_equal(fmt.decode_inputs(fmt.encode_inputs(x)), x)
    y = np.array([[-32768, 32767, 0, 1, -1, 5, 6, 7, 8, 9]])
    assert np.array_equal(fmt.decode_outputs(fmt.encode_outputs(y)), y)
    assert fmt.seconds_per_sample() == pytest.approx(480 / 115200)
    with pytest.raises(InputShapeError, match="takes 64"):
        fmt.encode_inputs(np.zeros((1, 63), dtype=np.int64))
