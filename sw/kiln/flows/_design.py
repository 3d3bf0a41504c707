"""The design a flow builds: ``kiln_top`` from an artifact's ``rtl/`` (files.f, rtl.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import ArtifactError

__all__ = ["KilnTop"]

_INT_FIELDS = ("in_elems", "in_width", "out_elems", "out_width", "latency", "ii")


@dataclass(frozen=True)
class KilnTop:
    """``kiln_top`` as the flows see it.

    Attributes:
        artifact: the artifact directory (``bitstream/`` and ``reports/`` go under it).
        rtl_dir: its ``rtl/`` folder.
        sources: (file name, Verilog text) in ``files.f`` order.
        in_elems, in_width, in_signed, out_elems, out_width, out_signed, latency, ii: from
            ``rtl.json``.
    """

    artifact: Path
    rtl_dir: Path
    sources: tuple[tuple[str, str], ...]
    in_elems: int
    in_width: int
    in_signed: bool
    out_elems: int
    out_width: int
    out_signed: bool
    latency: int
    ii: int

    @property
    def in_bits(self) -> int:
        return self.in_elems * self.in_width

    @property
    def out_bits(self) -> int:
        return self.out_elems * self.out_width

    def meta(self) -> dict[str, Any]:
        return {"top": "kiln_top", "in_elems": self.in_elems, "in_width": self.in_width,
                "in_signed": self.in_signed, "out_elems": self.out_elems,
                "out_width": self.out_width, "out_signed": self.out_signed,
                "latency": self.latency, "ii": self.ii}

    @classmethod
    def load(cls, artifact: str | Path) -> KilnTop:
        """Read ``ARTIFACT/rtl/`` (``artifact`` may also be the ``rtl/`` folder itself).

        Raises:
            ArtifactError: files.f, rtl.json or a listed source is missing or malformed.
        """
        path = Path(artifact).resolve()
        if (path / "files.f").is_file() and not (path / "rtl").is_dir():
            rtl_dir, root = path, path.parent
        else:
            rtl_dir, root = path / "rtl", path
        for needed in ("files.f", "rtl.json"):
            if not (rtl_dir / needed).is_file():
                raise ArtifactError(f"{rtl_dir / needed} is missing: {root} is not a compiled "
                                    f"artifact (run `kiln compile MODEL -o {root}` first)")
        meta = _read_meta(rtl_dir / "rtl.json")
        names = [ln.strip() for ln in (rtl_dir / "files.f").read_text().splitlines()]
        names = [n for n in names if n and not n.startswith(("#", "//"))]
        if not names:
            raise ArtifactError(f"{rtl_dir / 'files.f'} lists no Verilog files")
        sources = []
        for name in names:
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ArtifactError(f"{rtl_dir / 'files.f'}: {name!r} is not a path inside rtl/")
            file = rtl_dir / name
            if not file.is_file():
                raise ArtifactError(f"{file} is listed in files.f but missing")
            sources.append((name, file.read_text()))
        return cls(root, rtl_dir, tuple(sources), **meta)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    if data.get("top", "kiln_top") != "kiln_top":
        raise ArtifactError(f"{path}: top is {data.get('top')!r}; the flows build kiln_top")
    meta: dict[str, Any] = {}
    for name in _INT_FIELDS:
        value = data.get(name)
        least = 0 if name == "latency" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ArtifactError(f"{path}: {name} must be an integer >= {least}, not {value!r}")
        meta[name] = value
    for name in ("in_signed", "out_signed"):
        if not isinstance(data.get(name), bool):
            raise ArtifactError(f"{path}: {name} must be true or false, not {data.get(name)!r}")
        meta[name] = data[name]
    return meta
