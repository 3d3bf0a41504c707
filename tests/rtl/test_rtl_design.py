"""The design's TopContract and write_rtl: the files other stages read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.artifact import TopContract
from kiln.errors import ArtifactError
from kiln.ir import Cast, FixedType, Graph, Input
from kiln.rtl import emit_rtl, write_rtl

F = FixedType


def _design():  # type: ignore[no-untyped-def]
    graph = Graph("g", (Input("in", "", (3,), F(6, 2)),
                        Cast("out", "in", (3,), F(4, 1, False, "RND_CONV", "SAT"))))
    return emit_rtl(graph)


def test_meta_round_trips() -> None:
    meta = _design().meta
    data = meta.to_dict()
    assert data == {"top": "kiln_top", "in_elems": 3, "in_width": 6, "in_signed": True,
                    "out_elems": 3, "out_width": 4, "out_signed": False, "latency": 1, "ii": 1,
                    "in_beats": 1, "out_beats": 1, "timing_exact": True}
    assert TopContract.from_dict(json.loads(json.dumps(data))) == meta
    del data["latency"]
    with pytest.raises(ArtifactError, match="latency"):
        TopContract.from_dict(data)


def test_write_rtl(tmp_path: Path) -> None:
    design = _design()
    out = write_rtl(design, tmp_path / "rtl")
    assert out == tmp_path / "rtl"
    assert (out / "files.f").read_text() == "kiln_out.v\nkiln_top.v\n"
    assert json.loads((out / "rtl.json").read_text()) == design.meta.to_dict()
    for name, text in design.files.items():
        assert (out / name).read_text() == text


def test_write_rtl_is_byte_identical(tmp_path: Path) -> None:
    write_rtl(_design(), tmp_path / "a")
    write_rtl(_design(), tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["files.f", "kiln_out.v", "kiln_top.v", "rtl.json"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
