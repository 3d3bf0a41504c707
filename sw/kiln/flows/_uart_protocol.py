"""The UART bridge's wire format (hw/uart/kiln_uart_bridge.v; docs/bitstream.md).

One sample is one AXI4-Stream beat: element ``i`` of W bits at beat bits ``[i*W +: W]``
(signed elements as W-bit two's complement). On the wire a beat of B bits is
``ceil(B / 8)`` bytes, least significant byte first, with zeros in the bits above B. The
host sends input beats; the board answers each with one output beat in the same format.

Used by the host side (the runtime's serial transport), by a simulated board, and by the
cocotb bench of the bridge, so all three speak exactly the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kiln.errors import InputShapeError, PrecisionError

__all__ = [
    "DEFAULT_BAUD",
    "MAX_IN_FLIGHT",
    "UartFormat",
    "beat_bytes",
    "pack_samples",
    "unpack_outputs",
    "unpack_samples",
]

DEFAULT_BAUD = 115200
#: Samples a host may have sent whose results it has not yet read back completely. The
#: bridge holds one finished input beat while the next arrives; more can overflow it.
MAX_IN_FLIGHT = 2
_MAX_WIDTH = 62   # codes travel as int64


def beat_bytes(elems: int, width: int) -> int:
    """Bytes one beat of ``elems`` elements of ``width`` bits takes on the wire."""
    _check_geometry(elems, width)
    return (elems * width + 7) // 8


def pack_samples(codes: Any, width: int, signed: bool, *,
                 on_overflow: Literal["error", "wrap"] = "error") -> bytes:
    """Bytes for the beats of ``codes`` (shape ``(n, elems)``, or ``(elems,)`` for one).

    Args:
        codes: integer codes, one row per sample.
        width: bits per element.
        signed: two's complement elements (else unsigned codes).
        on_overflow: ``"error"`` refuses a code outside the element's range; ``"wrap"``
            keeps its low ``width`` bits.

    Raises:
        InputShapeError: not a 1-D or 2-D array of integers.
        PrecisionError: a code out of range (with ``on_overflow="error"``).
    """
    arr = np.asarray(codes)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputShapeError(f"pack_samples wants codes of shape (n, elems), not {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputShapeError(f"pack_samples wants integer codes, not dtype {arr.dtype}")
    n, elems = arr.shape
    nbytes = beat_bytes(elems, width)
    values = arr.astype(np.int64)
    low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if on_overflow == "error" and values.size and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)][0]
        kind = "signed" if signed else "unsigned"
        raise PrecisionError(f"Code {int(bad)} does not fit a {width}-bit {kind} element "
                             f"[{low}, {high}]; pass on_overflow='wrap' to keep its low bits")
    unsigned = values & ((1 << width) - 1)
    bits = ((unsigned[:, :, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
    bits = bits.reshape(n, elems * width)
    padded = np.zeros((n, nbytes * 8), dtype=np.uint8)
    padded[:, : elems * width] = bits
    return np.packbits(padded, axis=1, bitorder="little").tobytes()


def unpack_samples(data: bytes | bytearray | memoryview, n: int | None, elems: int,
                   width: int, signed: bool) -> np.ndarray:
    """Codes (int64, shape ``(n, elems)``) from the bytes of ``n`` beats (``n=None``: as
    many as ``data`` holds).

    Raises:
        InputShapeError: ``data`` is not exactly ``n`` beats long.
    """
    nbytes = beat_bytes(elems, width)
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if n is None:
        if raw.size % nbytes:
            raise InputShapeError(f"{raw.size} bytes are not a whole number of {nbytes}-byte "
                                  f"beats")
        n = raw.size // nbytes
    if raw.size != n * nbytes:
        raise InputShapeError(f"{n} beats of {elems} x {width} bits take {n * nbytes} bytes, "
                              f"not {raw.size}")
    bits = np.unpackbits(raw.reshape(n, nbytes), axis=1, bitorder="little")
    bits = bits[:, : elems * width].reshape(n, elems, width).astype(np.int64)
    values = (bits << np.arange(width, dtype=np.int64)).sum(axis=2)
    if signed:
        values = values - ((values >> (width - 1)) << width)
    return values


def unpack_outputs(data: bytes | bytearray | memoryview, n: int | None, out_elems: int,
                   width: int, signed: bool) -> np.ndarray:
    """Output codes (int64, shape ``(n, out_elems)``) from the bytes the board sent back."""
    return unpack_samples(data, n, out_elems, width, signed)


def _check_geometry(elems: int, width: int) -> None:
    if not (isinstance(elems, int) and elems >= 1):
        raise InputShapeError(f"A beat needs at least one element, not {elems!r}")
    if not (isinstance(width, int) and 1 <= width <= _MAX_WIDTH):
        raise InputShapeError(f"Element width must be 1..{_MAX_WIDTH} bits, not {width!r}")


@dataclass(frozen=True)
class UartFormat:
    """Both directions of one design's wire format (from its ``rtl.json``)."""

    in_elems: int
    in_width: int
    in_signed: bool
    out_elems: int
    out_width: int
    out_signed: bool
    baud: int = DEFAULT_BAUD

    @classmethod
    def from_meta(cls, meta: dict[str, Any], baud: int = DEFAULT_BAUD) -> UartFormat:
        return cls(int(meta["in_elems"]), int(meta["in_width"]), bool(meta["in_signed"]),
                   int(meta["out_elems"]), int(meta["out_width"]), bool(meta["out_signed"]),
                   baud)

    @property
    def in_bytes(self) -> int:
        return beat_bytes(self.in_elems, self.in_width)

    @property
    def out_bytes(self) -> int:
        return beat_bytes(self.out_elems, self.out_width)

    def encode_inputs(self, codes: Any) -> bytes:
        """What the host sends for ``codes`` (shape ``(n, in_elems)``)."""
        arr = np.asarray(codes)
        if arr.shape[-1:] != (self.in_elems,):
            raise InputShapeError(f"Inputs have {arr.shape[-1:]} elements per sample; this "
                                  f"design takes {self.in_elems}")
        return pack_samples(arr, self.in_width, self.in_signed)

    def decode_outputs(self, data: bytes, n: int | None = None) -> np.ndarray:
        """Output codes from what the board sent back."""
        return unpack_outputs(data, n, self.out_elems, self.out_width, self.out_signed)

    def decode_inputs(self, data: bytes, n: int | None = None) -> np.ndarray:
        """Input codes from what a host sent (the board's side, for simulated boards)."""
        return unpack_samples(data, n, self.in_elems, self.in_width, self.in_signed)

    def encode_outputs(self, codes: Any) -> bytes:
        """What the board sends back for output ``codes`` (for simulated boards)."""
        return pack_samples(codes, self.out_width, self.out_signed)

    def seconds_per_sample(self) -> float:
        """Wire time of one sample in and its result out (10 bits per byte, 8N1), when both
        directions overlap (the link runs full duplex)."""
        return 10 * max(self.in_bytes, self.out_bytes) / self.baud
