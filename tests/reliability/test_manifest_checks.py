"""kiln.json covers everything a device executes, cannot be edited into checking nothing, and
a manifest that is damaged, of another format or from another kiln is an ArtifactError that
says so, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kiln
from kiln.artifact import FORMAT_VERSION, MANIFEST
from kiln.errors import ArtifactError


def _edit(root: Path, change: Any) -> None:
    path = root / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_every_file_the_c_simulation_build_reads_is_listed(tiny_artifact: Any) -> None:
    files = tiny_artifact.manifest.files
    for needed in ("hls/build_lib.sh", "hls/kiln_model_bridge.cpp",
                   "hls/firmware/kiln_model.cpp", "hls/firmware/parameters.h",
                   "hls/firmware/nnet_utils/nnet_dense_latency.h",
                   "hls/firmware/ap_types/ap_fixed_base.h", "model/kiln_ir.json",
                   "rtl/kiln_top.v", "rtl/rtl.json"):
        assert needed in files
    assert any(f.startswith("hls/firmware/kiln_model-") and f.endswith(".so") for f in files)


@pytest.mark.parametrize("victim", ["hls/firmware/nnet_utils/nnet_dense_latency.h",
                                    "hls/firmware/ap_types/ap_fixed_base.h",
                                    "hls/build_lib.sh", "hls/kiln_model_bridge.cpp", "so"])
def test_an_edited_hls_file_is_refused(artifact_copy: Path, victim: str) -> None:
    path = (next((artifact_copy / "hls" / "firmware").glob("*.so")) if victim == "so"
            else artifact_copy / victim)
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(ArtifactError, match=f"changed {path.relative_to(artifact_copy)}"):
        kiln.load(artifact_copy)


def test_an_empty_file_list_switches_nothing_off(artifact_copy: Path) -> None:
    _edit(artifact_copy, lambda d: d.update(files={}))
    with pytest.raises(ArtifactError, match="lists no files"):
        kiln.load(artifact_copy)


def test_a_file_dropped_from_the_list_is_refused(artifact_copy: Path) -> None:
    (artifact_copy / "rtl" / "kiln_top.v").write_text("module kiln_top; endmodule\n")
    _edit(artifact_copy, lambda d: d["files"].pop("rtl/kiln_top.v"))
    with pytest.raises(ArtifactError, match="unlisted rtl/kiln_top.v"):
        kiln.load(artifact_copy)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("files"), "missing files"),
    (lambda d: d.update(files=["rtl/kiln_top.v"]), "files is a list"),
    (lambda d: d.update(files={"rtl/kiln_top.v": 1}), "files maps something other than text"),
    (lambda d: d.update(latency="8"), "latency is a str"),
    (lambda d: d.update(surprise=1), "unknown surprise"),
])
def test_an_ill_typed_manifest_is_corrupt(artifact_copy: Path, change: Any,
                                          message: str) -> None:
    _edit(artifact_copy, change)
    with pytest.raises(ArtifactError, match=f"is corrupt: .*{message}"):
        kiln.load(artifact_copy)


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe{}", "not UTF-8 JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'{"format_version": 3', "not UTF-8 JSON"),
])
def test_a_manifest_that_is_not_a_json_object_is_corrupt(artifact_copy: Path, content: bytes,
                                                         message: str) -> None:
    (artifact_copy / MANIFEST).write_bytes(content)
    with pytest.raises(ArtifactError, match=message):
        kiln.load(artifact_copy)


def test_a_newer_format_names_both_versions(artifact_copy: Path) -> None:
    _edit(artifact_copy, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match=rf"format version {FORMAT_VERSION + 1}, newer than "
                                            rf"this kiln \(.*\) reads \(version "
                                            rf"{FORMAT_VERSION}\): upgrade kiln"):
        kiln.load(artifact_copy)


def test_an_artifact_from_another_kiln_is_refused(artifact_copy: Path) -> None:
    _edit(artifact_copy, lambda d: d["versions"].update(kiln="0.0.1"))
    with pytest.raises(ArtifactError, match=r"built by kiln 0\.0\.1; this is kiln .*--force"):
        kiln.load(artifact_copy)


def test_the_type_table_names_every_manifest_field() -> None:
    from dataclasses import fields

    from kiln.artifact import Manifest
    from kiln.artifact._manifest import _FIELD_TYPES

    assert set(_FIELD_TYPES) == {f.name for f in fields(Manifest)}
