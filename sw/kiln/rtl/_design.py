"""What kiln.rtl produces: Verilog files plus the metadata other stages read, and a writer."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import ArtifactError

TOP = "kiln_top"
FILE_LIST = "files.f"
META_FILE = "rtl.json"


@dataclass(frozen=True)
class RtlMeta:
    """The hardware contract of a generated ``kiln_top``.

    Attributes:
        top: Top module name.
        in_elems: Elements per input beat; ``s_axis_tdata`` is ``in_elems * in_width`` bits,
            element ``i`` in bits ``[i*in_width +: in_width]``.
        in_width: Bits per input element.
        in_signed: Whether input elements are two's complement (else plain codes).
        out_elems: Elements per output beat (``m_axis_tdata``, packed the same way).
        out_width: Bits per output element.
        out_signed: Whether output elements are two's complement.
        latency: Clock edges from a sample's input handshake to its output handshake when
            nothing stalls (the number of pipeline register stages).
        ii: Initiation interval in cycles: a new sample every ``ii`` cycles.
        in_beats: Input beats per sample (io_stream: pixels per frame; io_parallel: 1).
        out_beats: Output beats per sample; the last one carries ``tlast``.
        timing_exact: Whether ``latency`` and ``ii`` are exact at full rate. False for io_stream
            designs with zero padding, where padding stages stall one another and the stated
            figures are the contention-free ideal (the benches measure the real ones).
    """

    in_elems: int
    in_width: int
    in_signed: bool
    out_elems: int
    out_width: int
    out_signed: bool
    latency: int
    ii: int = 1
    top: str = TOP
    in_beats: int = 1
    out_beats: int = 1
    timing_exact: bool = True

    @property
    def in_bits(self) -> int:
        return self.in_elems * self.in_width

    @property
    def out_bits(self) -> int:
        return self.out_elems * self.out_width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RtlMeta:
        names = {f.name for f in dataclasses.fields(cls)}
        optional = {f.name for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING}
        missing = names - optional - set(data)
        if missing:
            raise ArtifactError(
                f"RTL metadata lacks {', '.join(sorted(missing))}; regenerate it with kiln.rtl"
            )
        return cls(**{k: data[k] for k in names if k in data})


@dataclass(frozen=True)
class RtlDesign:
    """Generated Verilog: ``files`` maps file names to text (top in ``kiln_top.v``), in
    dependency order, top last."""

    files: dict[str, str]
    meta: RtlMeta

    @property
    def file_list(self) -> str:
        """The ``files.f`` text: one file name per line."""
        return "".join(f"{name}\n" for name in self.files)


def write_rtl(design: RtlDesign, directory: str | Path) -> Path:
    """Write the Verilog files, ``files.f`` and ``rtl.json`` into ``directory``.

    The output is deterministic: the same design gives byte-identical files.

    Returns:
        The directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in design.files.items():
        (out / name).write_text(text)
    (out / FILE_LIST).write_text(design.file_list)
    meta = json.dumps(design.meta.to_dict(), indent=2, sort_keys=True)
    (out / META_FILE).write_text(meta + "\n")
    return out
