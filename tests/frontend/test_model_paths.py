"""Bad model paths and empty layers (issue 15): each a KilnError naming what is wrong, where,
and the fix, before any conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

import kiln
from kiln.errors import ModelLoadError, UnsupportedLayerError


def _compile(path: Path, out: Path) -> None:
    shape = None if path.suffix == ".h5" else (4,)  # PyTorch files need one, Keras refuses it
    kiln.compile(path, out, input_shape=shape)


def test_missing_model_files_name_the_folder_and_the_formats(tmp_path: Path) -> None:
    for name in ("nope.h5", "nope.onnx", "nope.pt"):
        with pytest.raises(ModelLoadError, match=rf"Model file .*{name} does not exist \(looked "
                           rf"in {tmp_path}\)(?s:.*)kiln reads .h5 \(Keras\)"):
            _compile(tmp_path / name, tmp_path / "out")


def test_a_directory_is_refused_with_what_it_holds(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "jet.h5").write_bytes(b"x")
    (models / "notes.txt").write_text("x")
    with pytest.raises(ModelLoadError, match=r"models is a directory, not a model file. It "
                       r"holds jet.h5: give one of them, e.g. .*models/jet.h5"):
        kiln.compile(models, tmp_path / "out")
    folder = tmp_path / "export.onnx"  # a directory with a model's suffix
    folder.mkdir()
    with pytest.raises(ModelLoadError, match=r"export.onnx is a directory(?s:.*)no model file"):
        kiln.compile(folder, tmp_path / "out")
    artifact = tmp_path / "build"
    artifact.mkdir()
    (artifact / "kiln.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"is a kiln artifact, not a model. Load it with "
                       r"kiln.load"):
        kiln.compile(artifact, tmp_path / "out")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"SavedModel directory.*model.save\('model.h5'\)"):
        kiln.compile(saved, tmp_path / "out")


def test_empty_and_corrupt_onnx_files(tmp_path: Path) -> None:
    for name in ("empty.onnx", "empty.h5", "empty.pt"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(ModelLoadError, match=rf"{name} is empty \(0 bytes\): the save or "
                           r"copy did not finish. Save or export the model again"):
            _compile(tmp_path / name, tmp_path / "out")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match=r"Cannot read ONNX model .*corrupt.onnx: "
                       r"DecodeError(?s:.*)Export it again"):
        kiln.compile(corrupt, tmp_path / "out")
    parses = tmp_path / "parses.onnx"
    parses.write_bytes(b"\x08\x07")  # a valid protobuf: ir_version 7, no graph
    with pytest.raises(ModelLoadError, match=r"parses, but holds 0 nodes and 0 inputs"):
        kiln.compile(parses, tmp_path / "out")


def test_layers_without_outputs(tmp_path: Path) -> None:
    from tensorflow import keras
    from torch import nn

    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(0, name="empty"),
                              keras.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match=r"layer 'empty' \(Dense\): units=0: the "
                       r"layer has no outputs. Fix: give units a positive number"):
        kiln.compile(model, tmp_path / "unused", precision="fixed<16,6>")
    with pytest.raises(UnsupportedLayerError, match=r"module '0' \(Linear\): out_features=0: "
                       r"the layer has no outputs"):
        kiln.compile(nn.Sequential(nn.Linear(4, 0)), tmp_path / "unused", input_shape=(4,),
                     precision="fixed<16,6>")
