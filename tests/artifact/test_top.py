"""The hardware contract: rtl.json as a TopContract, an rtl/ directory as TopSources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.sim.sim_helpers import FIXTURES, make_rtl

from kiln.artifact import TopContract, TopSources, write_top
from kiln.errors import ArtifactError


def test_load_reads_files_and_contract(tmp_path: Path) -> None:
    rtl = make_rtl(tmp_path, "wide_signed")
    for where in (rtl, rtl.parent):  # the rtl/ folder, or the artifact that holds it
        top = TopSources.load(where)
        assert [s.name for s in top.sources] == ["kiln_top.v", "pairsum.v"]
        assert top.rtl_dir == rtl.resolve() and top.artifact == rtl.parent.resolve()
        c = top.contract
        assert (c.in_bits, c.out_bits, c.in_signed, c.latency, c.ii) == (384, 448, True, 3, 1)
        assert top.read_sources()[1] == ("pairsum.v", (rtl / "pairsum.v").read_text())


@pytest.mark.parametrize(("remove", "message"), [
    ("files.f", r"files\.f is missing"),
    ("rtl.json", r"rtl\.json is missing"),
    ("pairsum.v", r"lists files that do not exist: .*pairsum\.v"),
])
def test_load_names_what_is_missing(tmp_path: Path, remove: str, message: str) -> None:
    rtl = make_rtl(tmp_path, "narrow_unsigned")
    (rtl / remove).unlink()
    with pytest.raises(ArtifactError, match=message):
        TopSources.load(rtl)


def test_file_list_stays_inside_the_directory(tmp_path: Path) -> None:
    rtl = make_rtl(tmp_path, "narrow_unsigned")
    (rtl / "files.f").write_text("../outside.v\n")
    with pytest.raises(ArtifactError, match="not a path inside"):
        TopSources.load(rtl)
    (rtl / "files.f").write_text("// nothing\n")
    with pytest.raises(ArtifactError, match="lists no Verilog files"):
        TopSources.load(rtl)


def test_contract_rejects_bad_values() -> None:
    meta = json.loads((FIXTURES / "wide_signed" / "rtl.json").read_text())
    with pytest.raises(ArtifactError, match="in_width must be a positive integer, not 0"):
        TopContract.from_dict({**meta, "in_width": 0})
    with pytest.raises(ArtifactError, match="at most 64 bits"):
        TopContract.from_dict({**meta, "out_width": 65})
    with pytest.raises(ArtifactError, match="lacks ii"):
        TopContract.from_dict({k: v for k, v in meta.items() if k != "ii"})
    with pytest.raises(ArtifactError, match="in_signed must be true or false"):
        TopContract.from_dict({**meta, "in_signed": 1})
    with pytest.raises(ArtifactError, match="latency must be an integer >= 0"):
        TopContract.from_dict({**meta, "latency": -1})
    with pytest.raises(ArtifactError, match="top is 'other'"):
        TopContract.from_dict({**meta, "top": "other"})


def test_contract_round_trips_through_rtl_json(tmp_path: Path) -> None:
    contract = TopContract(in_elems=4, in_width=6, in_signed=True, out_elems=2, out_width=9,
                           out_signed=False, latency=7, ii=3, in_beats=16, out_beats=1,
                           timing_exact=False)
    write_top(tmp_path, {"a.v": "module a; endmodule\n", "kiln_top.v": "// top\n"}, contract)
    assert (tmp_path / "files.f").read_text() == "a.v\nkiln_top.v\n"
    loaded = TopSources.load(tmp_path)
    assert loaded.contract == contract
    assert (contract.in_codes, contract.out_codes) == (64, 2)


def test_digest_follows_content_only(tmp_path: Path) -> None:
    a = TopSources.load(make_rtl(tmp_path / "a", "wide_signed"))
    b = TopSources.load(make_rtl(tmp_path / "b", "wide_signed"))
    assert a.digest() == b.digest()  # same content in another place
    assert a.digest("x") != a.digest("y")
    with (b.rtl_dir / "pairsum.v").open("a") as f:
        f.write("// changed\n")
    assert a.digest() != TopSources.load(b.rtl_dir).digest()
