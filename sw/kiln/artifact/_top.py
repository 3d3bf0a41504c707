"""The hardware contract of ``kiln_top``: what kiln.rtl writes into ``rtl/`` and every later
stage (kiln.sim, kiln.flows, kiln.runtime, the UART bridge) reads.

An ``rtl/`` directory holds the Verilog files, ``files.f`` (their names, top last) and
``rtl.json`` (a :class:`TopContract`). This module is the one reader and writer of both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import ArtifactError

TOP = "kiln_top"
FILE_LIST = "files.f"
META_FILE = "rtl.json"
#: Codes travel as int64 through every stage, so an element is at most 64 bits wide.
MAX_ELEMENT_WIDTH = 64
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class TopContract:
    """Ports, beat layout and timing of a generated ``kiln_top``.

    ``kiln_top`` has a clock, an active-low synchronous reset, an AXI4-Stream slave in
    (``s_axis_*``) and master out (``m_axis_*``). Element ``i`` of a beat sits at bits
    ``[i*W +: W]``: W-bit two's complement when signed, else a plain W-bit code.

    Attributes:
        in_elems: Elements per input beat; ``s_axis_tdata`` is ``in_elems * in_width`` bits.
        in_width: Bits per input element.
        in_signed: Whether input elements are two's complement.
        out_elems: Elements per output beat (``m_axis_tdata``, packed the same way).
        out_width: Bits per output element.
        out_signed: Whether output elements are two's complement.
        latency: Clock edges from a sample's (last) input handshake to its (last) output
            handshake when nothing stalls.
        ii: Initiation interval: cycles between samples (frames in io_stream) at full rate.
        in_beats: Input beats per sample (io_stream: pixels per frame; io_parallel: 1).
        out_beats: Output beats per sample; the last one carries ``tlast``.
        timing_exact: Whether ``latency`` and ``ii`` are exact at full rate. False for io_stream
            designs with zero padding, where the figures are the contention-free ideal (the
            benches measure the real ones).
        top: Top module name.
    """

    in_elems: int
    in_width: int
    in_signed: bool
    out_elems: int
    out_width: int
    out_signed: bool
    latency: int
    ii: int
    in_beats: int = 1
    out_beats: int = 1
    timing_exact: bool = True
    top: str = TOP

    def __post_init__(self) -> None:
        for name in ("in_elems", "out_elems", "in_width", "out_width", "ii", "in_beats",
                     "out_beats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ArtifactError(f"{META_FILE}: {name} must be a positive integer, "
                                    f"not {value!r}")
        if not isinstance(self.latency, int) or isinstance(self.latency, bool) \
                or self.latency < 0:
            raise ArtifactError(f"{META_FILE}: latency must be an integer >= 0, "
                                f"not {self.latency!r}")
        for name in ("in_signed", "out_signed", "timing_exact"):
            if not isinstance(getattr(self, name), bool):
                raise ArtifactError(f"{META_FILE}: {name} must be true or false, "
                                    f"not {getattr(self, name)!r}")
        for name in ("in_width", "out_width"):
            if getattr(self, name) > MAX_ELEMENT_WIDTH:
                raise ArtifactError(
                    f"{META_FILE}: {name} = {getattr(self, name)}; codes travel as int64, so "
                    f"elements may be at most {MAX_ELEMENT_WIDTH} bits wide")
        if self.top != TOP:
            raise ArtifactError(f"{META_FILE}: top is {self.top!r}; kiln's stages read {TOP}")

    @property
    def in_bits(self) -> int:
        """Width of ``s_axis_tdata``."""
        return self.in_elems * self.in_width

    @property
    def out_bits(self) -> int:
        """Width of ``m_axis_tdata``."""
        return self.out_elems * self.out_width

    @property
    def in_codes(self) -> int:
        """Input codes per sample (all beats of a frame)."""
        return self.in_elems * self.in_beats

    @property
    def out_codes(self) -> int:
        """Output codes per sample."""
        return self.out_elems * self.out_beats

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = META_FILE) -> TopContract:
        """A contract from ``rtl.json``'s data.

        Raises:
            ArtifactError: a required field is missing or a value is malformed.
        """
        fields = dataclasses.fields(cls)
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ArtifactError(f"{where} lacks {', '.join(missing)}; it needs "
                                f"{', '.join(required)}. Re-run `kiln compile`.")
        return cls(**{f.name: data[f.name] for f in fields if f.name in data})


@dataclass(frozen=True)
class TopSources:
    """An ``rtl/`` directory: its Verilog sources in ``files.f`` order and its contract.

    Attributes:
        rtl_dir: the directory.
        sources: absolute paths of the listed files, top last.
        contract: what ``rtl.json`` states.
    """

    rtl_dir: Path
    sources: tuple[Path, ...]
    contract: TopContract

    @property
    def artifact(self) -> Path:
        """The artifact directory that holds ``rtl/`` (``bitstream/``, ``reports/`` go there)."""
        return self.rtl_dir.parent

    @classmethod
    def load(cls, path: str | Path) -> TopSources:
        """Read ``files.f`` and ``rtl.json`` of an artifact (``path/rtl``) or of ``path``
        itself when it is an ``rtl/`` directory.

        Raises:
            ArtifactError: the directory, ``files.f``, ``rtl.json`` or a listed file is
                missing or malformed.
        """
        root = Path(path).resolve()
        rtl_dir = root / "rtl" if (root / "rtl").is_dir() else root
        if not rtl_dir.is_dir():
            raise ArtifactError(f"{root} does not exist; run `kiln compile MODEL -o {root}` first")
        for name in (FILE_LIST, META_FILE):
            if not (rtl_dir / name).is_file():
                raise ArtifactError(
                    f"{rtl_dir / name} is missing: {rtl_dir} is not a kiln RTL directory (the "
                    f".v files, {FILE_LIST} and {META_FILE}). Re-run `kiln compile`.")
        try:
            data = json.loads((rtl_dir / META_FILE).read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{rtl_dir / META_FILE} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ArtifactError(f"{rtl_dir / META_FILE} must hold a JSON object")
        contract = TopContract.from_dict(data, str(rtl_dir / META_FILE))
        return cls(rtl_dir, _listed_sources(rtl_dir), contract)

    def read_sources(self) -> tuple[tuple[str, str], ...]:
        """(file name, Verilog text) of every source, in order."""
        return tuple((p.name, p.read_text()) for p in self.sources)

    def digest(self, *extra: str | bytes) -> str:
        """SHA-256 over every file in the directory (names and contents) and ``extra``."""
        return content_digest(self.rtl_dir, extra)


def _listed_sources(rtl_dir: Path) -> tuple[Path, ...]:
    listing = rtl_dir / FILE_LIST
    names = [line.strip() for line in listing.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith(("#", "//"))]
    if not names:
        raise ArtifactError(f"{listing} lists no Verilog files; re-run `kiln compile`")
    sources = []
    for name in names:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{listing}: {name!r} is not a path inside {rtl_dir}")
        sources.append(rtl_dir / name)
    absent = [str(s) for s in sources if not s.is_file()]
    if absent:
        raise ArtifactError(f"{listing} lists files that do not exist: {', '.join(absent)}")
    return tuple(sources)


def write_top(directory: str | Path, files: Mapping[str, str], contract: TopContract) -> Path:
    """Write the Verilog ``files`` (name -> text, top last), ``files.f`` and ``rtl.json``.

    The output is deterministic: the same design gives byte-identical files.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    (out / FILE_LIST).write_text("".join(f"{name}\n" for name in files))
    meta = json.dumps(contract.to_dict(), indent=2, sort_keys=True)
    (out / META_FILE).write_text(meta + "\n")
    return out


def content_digest(root: Path, extra: Iterable[str | bytes] = ()) -> str:
    """SHA-256 over every file under ``root`` (relative names, sizes, contents) and ``extra``."""
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
