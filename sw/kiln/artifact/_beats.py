"""Codes in and out of ``kiln_top``'s beats: range checks, and packing into beat integers
(simulators) and bytes (links: the UART bridge, AXI DMA buffers).

A beat of ``elems`` elements of ``width`` bits holds element ``i`` at bits ``[i*width +:
width]``, signed elements as two's complement. As bytes it is ``ceil(elems * width / 8)``
bytes, least significant first, zeros above the last element.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from kiln.artifact._top import MAX_ELEMENT_WIDTH, TopContract
from kiln.errors import InputShapeError

OnOverflow = Literal["error", "wrap"]


def code_range(width: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest code of a ``width``-bit element."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def check_codes(codes: NDArray[Any], width: int, signed: bool, on_overflow: OnOverflow,
                what: str = "Input") -> None:
    """Refuse (``on_overflow="error"``) a code of the 2-D ``codes`` outside the element range.

    Raises:
        InputShapeError: naming the first bad code, its sample and element, and the count.
    """
    if on_overflow not in ("error", "wrap"):
        raise InputShapeError(f"on_overflow must be 'error' or 'wrap', not {on_overflow!r}")
    if on_overflow == "wrap" or not codes.size:
        return
    lo, hi = code_range(width, signed)
    bad = np.argwhere((codes < lo) | (codes > hi))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        kind = "signed" if signed else "unsigned"
        raise InputShapeError(
            f"{what} code {int(codes[row, col])} at sample {row}, element {col} does not fit "
            f"{width}-bit {kind} [{lo}, {hi}] ({len(bad)} codes out of range); pass "
            "on_overflow='wrap' to keep the low bits")


def as_input_codes(codes: Any, contract: TopContract, on_overflow: OnOverflow = "error"
                   ) -> NDArray[Any]:
    """``codes`` as a C-contiguous int64 array (n, in_elems * in_beats), checked against the
    input type: one row per sample (an io_stream frame is its pixels' beats in order).

    Raises:
        InputShapeError: for a non-integer dtype, a wrong shape, or (``on_overflow="error"``)
            a code outside the element's range.
    """
    array = np.asarray(codes)
    if array.dtype.kind not in "iub":
        raise InputShapeError(
            f"Inputs must be integer codes, not dtype {array.dtype}; quantize them first "
            "(Runtime.input_codes or kiln.fixed.from_float)")
    per_sample = contract.in_codes
    if array.ndim == 0 or int(np.prod(array.shape[1:], dtype=np.int64)) != per_sample:
        raise InputShapeError(
            f"Inputs have shape {array.shape}; the design takes (n, {per_sample}) codes")
    flat = array.reshape(len(array), per_sample)
    check_codes(flat, contract.in_width, contract.in_signed, on_overflow)
    return np.ascontiguousarray(flat, dtype=np.int64)


def beat_bytes(elems: int, width: int) -> int:
    """Bytes one beat of ``elems`` elements of ``width`` bits takes on a link."""
    if not (isinstance(elems, int) and elems >= 1):
        raise InputShapeError(f"A beat needs at least one element, not {elems!r}")
    if not (isinstance(width, int) and 1 <= width <= MAX_ELEMENT_WIDTH):
        raise InputShapeError(f"Element width must be 1..{MAX_ELEMENT_WIDTH} bits, "
                              f"not {width!r}")
    return (elems * width + 7) // 8


def pack_samples(codes: Any, width: int, signed: bool, *,
                 on_overflow: OnOverflow = "error") -> bytes:
    """The bytes of the beats of ``codes`` (shape ``(n, elems)``, or ``(elems,)`` for one).

    Raises:
        InputShapeError: not a 1-D or 2-D array of integers, or (``on_overflow="error"``)
            a code out of range.
    """
    arr = np.asarray(codes)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputShapeError(f"Beats are packed from codes of shape (n, elems), not {arr.shape}")
    if arr.size and arr.dtype.kind not in "iub":
        raise InputShapeError(f"Beats are packed from integer codes, not dtype {arr.dtype}")
    n, elems = arr.shape
    nbytes = beat_bytes(elems, width)
    values = arr.astype(np.int64)
    check_codes(values, width, signed, on_overflow)
    pattern = values.view(np.uint64)  # two's complement bits; the low `width` are the element
    shifts = np.arange(width, dtype=np.uint64)
    bits = ((pattern[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    padded = np.zeros((n, nbytes * 8), dtype=np.uint8)
    padded[:, : elems * width] = bits.reshape(n, elems * width)
    return np.packbits(padded, axis=1, bitorder="little").tobytes()


def unpack_samples(data: bytes | bytearray | memoryview, n: int | None, elems: int,
                   width: int, signed: bool) -> NDArray[Any]:
    """Codes (int64, shape ``(n, elems)``) from the bytes of ``n`` beats (``n=None``: as many
    as ``data`` holds). An unsigned 64-bit code above 2**63 - 1 comes back as its int64 bits.

    Raises:
        InputShapeError: ``data`` is not exactly ``n`` beats long.
    """
    nbytes = beat_bytes(elems, width)
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if n is None:
        if raw.size % nbytes:
            raise InputShapeError(f"{raw.size} bytes are not a whole number of {nbytes}-byte "
                                  "beats")
        n = raw.size // nbytes
    if raw.size != n * nbytes:
        raise InputShapeError(f"{n} beats of {elems} x {width} bits take {n * nbytes} bytes, "
                              f"not {raw.size}")
    bits = np.unpackbits(raw.reshape(n, nbytes), axis=1, bitorder="little")
    bits = bits[:, : elems * width].reshape(n, elems, width).astype(np.uint64)
    pattern = (bits << np.arange(width, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    if signed and width < 64:
        sign = (pattern >> np.uint64(width - 1)) & np.uint64(1)
        pattern = pattern - (sign << np.uint64(width))  # wraps to the int64 pattern
    codes: NDArray[np.int64] = pattern.view(np.int64).reshape(n, elems)
    return codes


def pack_beats(codes: NDArray[Any], width: int) -> list[int]:
    """Each row of ``codes`` as one unsigned beat integer (codes wrap to ``width`` bits)."""
    arr = np.asarray(codes)
    data = pack_samples(arr, width, True, on_overflow="wrap")
    nbytes = beat_bytes(arr.shape[-1], width)
    return [int.from_bytes(data[i:i + nbytes], "little") for i in range(0, len(data), nbytes)]


def unpack_beats(beats: Iterable[int], elems: int, width: int, signed: bool) -> NDArray[Any]:
    """Inverse of :func:`pack_beats`: (n, elems) int64 codes, sign-extended when ``signed``;
    bits above the last element are ignored."""
    nbytes = beat_bytes(elems, width)
    mask = (1 << (elems * width)) - 1
    data = b"".join((int(b) & mask).to_bytes(nbytes, "little") for b in beats)
    return unpack_samples(data, None, elems, width, signed)
