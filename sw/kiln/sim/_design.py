"""The design under test as kiln.sim sees it: an ``rtl/`` directory with ``files.f`` and
``rtl.json``, its stream geometry, its content hash, and packing of codes into beats."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kiln.errors import ArtifactError, InputShapeError

OnOverflow = Literal["error", "wrap"]
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class StreamGeometry:
    """The AXI4-Stream beat layout of ``kiln_top`` and its timing, as ``rtl.json`` states it.

    Element ``i`` of a beat sits at bits ``[i*W +: W]``; signed elements are W-bit two's
    complement, unsigned ones plain W-bit codes.
    """

    top: str
    in_elems: int
    in_width: int
    in_signed: bool
    out_elems: int
    out_width: int
    out_signed: bool
    latency: int
    ii: int
    in_beats: int = 1  # beats per input frame (io_stream: pixels); 1 for io_parallel
    out_beats: int = 1
    timing_exact: bool = True  # False: latency and ii are ideal figures, not exact ones

    def __post_init__(self) -> None:
        for name in ("in_elems", "out_elems", "in_width", "out_width", "ii", "in_beats",
                     "out_beats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ArtifactError(f"rtl.json: {name} must be a positive integer, not {value!r}")
        if not isinstance(self.latency, int) or self.latency < 0:
            raise ArtifactError(f"rtl.json: latency must be an integer >= 0, not {self.latency!r}")
        for name in ("in_width", "out_width"):
            if getattr(self, name) > 64:
                raise ArtifactError(
                    f"rtl.json: {name} = {getattr(self, name)}; kiln.sim carries codes as int64, "
                    "so elements may be at most 64 bits wide"
                )

    @property
    def in_bits(self) -> int:
        return self.in_elems * self.in_width

    @property
    def out_bits(self) -> int:
        return self.out_elems * self.out_width

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": self.top, "in_elems": self.in_elems, "in_width": self.in_width,
            "in_signed": self.in_signed, "out_elems": self.out_elems,
            "out_width": self.out_width, "out_signed": self.out_signed,
            "latency": self.latency, "ii": self.ii, "in_beats": self.in_beats,
            "out_beats": self.out_beats, "timing_exact": self.timing_exact,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "rtl.json") -> StreamGeometry:
        fields = ("top", "in_elems", "in_width", "in_signed", "out_elems", "out_width",
                  "out_signed", "latency", "ii")
        missing = [f for f in fields if f not in data]
        if missing:
            raise ArtifactError(f"{where} lacks {', '.join(missing)}; it needs {', '.join(fields)}")
        frames = {f: data[f] for f in ("in_beats", "out_beats", "timing_exact") if f in data}
        return cls(**{f: data[f] for f in fields}, **frames)


@dataclass(frozen=True)
class RtlDirectory:
    """An RTL directory: its sources (from ``files.f``, in order) and geometry (``rtl.json``)."""

    rtl_dir: Path
    sources: tuple[Path, ...]
    geometry: StreamGeometry

    @classmethod
    def load(cls, rtl_dir: str | Path) -> RtlDirectory:
        """Read ``files.f`` and ``rtl.json`` from ``rtl_dir``.

        Raises:
            ArtifactError: when the directory, a file list entry or ``rtl.json`` is missing.
        """
        root = Path(rtl_dir).resolve()
        if not root.is_dir():
            raise ArtifactError(f"RTL directory {root} does not exist; run `kiln compile` first")
        file_list = root / "files.f"
        meta = root / "rtl.json"
        for path in (file_list, meta):
            if not path.is_file():
                raise ArtifactError(
                    f"{path} is missing; an RTL directory holds the .v files, files.f (one "
                    "relative path a line) and rtl.json. Re-run `kiln compile`."
                )
        sources = tuple(root / line.strip() for line in file_list.read_text().splitlines()
                        if line.strip() and not line.strip().startswith(("#", "//")))
        if not sources:
            raise ArtifactError(f"{file_list} lists no sources")
        absent = [str(s) for s in sources if not s.is_file()]
        if absent:
            raise ArtifactError(f"{file_list} lists files that do not exist: {', '.join(absent)}")
        try:
            data = json.loads(meta.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{meta} is not valid JSON: {exc}") from exc
        return cls(root, sources, StreamGeometry.from_dict(data, str(meta)))

    def digest(self, *extra: str | bytes) -> str:
        """SHA-256 over every file in the RTL directory (names and contents) and ``extra``."""
        return content_digest(self.rtl_dir, extra)


def content_digest(root: Path, extra: Iterable[str | bytes] = ()) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix().encode()
        h.update(len(rel).to_bytes(8, "little") + rel)
        h.update(path.stat().st_size.to_bytes(8, "little"))
        with path.open("rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    for item in extra:
        data = item.encode() if isinstance(item, str) else item
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def code_range(width: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest code of a ``width``-bit element."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def as_input_codes(codes: Any, geometry: StreamGeometry, on_overflow: OnOverflow = "error"
                   ) -> np.ndarray:
    """``codes`` as a C-contiguous int64 array (n, in_elems * in_beats), checked against the
    input type: one row per sample (an io_stream frame is its pixels' beats in order).

    Raises:
        InputShapeError: for a non-integer dtype, a wrong shape, or (``on_overflow="error"``)
            a code outside the element's range.
    """
    array = np.asarray(codes)
    if array.dtype.kind not in "iub":
        raise InputShapeError(
            f"Emulator inputs must be integer codes, not dtype {array.dtype}; quantize them "
            "first (Runtime.input_codes or kiln.fixed.from_float)"
        )
    per_sample = geometry.in_elems * geometry.in_beats
    if array.ndim == 0 or int(np.prod(array.shape[1:], dtype=np.int64)) != per_sample:
        raise InputShapeError(
            f"Inputs have shape {array.shape}; the design takes (n, {per_sample}) codes"
        )
    flat = array.reshape(len(array), per_sample)
    if on_overflow not in ("error", "wrap"):
        raise ValueError(f"on_overflow must be 'error' or 'wrap', not {on_overflow!r}")
    if on_overflow == "error" and flat.size:
        lo, hi = code_range(geometry.in_width, geometry.in_signed)
        bad = np.argwhere((flat < lo) | (flat > hi))
        if len(bad):
            row, col = (int(v) for v in bad[0])
            kind = "signed" if geometry.in_signed else "unsigned"
            raise InputShapeError(
                f"Input code {int(flat[row, col])} at sample {row}, element {col} does not fit "
                f"{geometry.in_width}-bit {kind} [{lo}, {hi}] ({len(bad)} codes out of range); "
                "pass on_overflow='wrap' to keep the low bits"
            )
    return np.ascontiguousarray(flat, dtype=np.int64)


def pack_beats(codes: np.ndarray, width: int) -> list[int]:
    """Each row of codes as one unsigned integer, element i at bits [i*width +: width]."""
    mask = (1 << width) - 1
    beats = []
    for row in codes.tolist():
        value = 0
        for i, code in enumerate(row):
            value |= (int(code) & mask) << (i * width)
        beats.append(value)
    return beats


def unpack_beats(beats: Iterable[int], elems: int, width: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_beats`: (n, elems) int64 codes, sign-extended when ``signed``
    (an unsigned 64-bit code above 2**63 - 1 comes back as its int64 bit pattern)."""
    mask = (1 << width) - 1
    sign = 1 << (width - 1) if signed else 1 << 63
    wrap = 1 << width if signed else 1 << 64
    rows = []
    for beat in beats:
        row = []
        for i in range(elems):
            code = (beat >> (i * width)) & mask
            row.append(code - wrap if code & sign else code)
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(len(rows), elems)
