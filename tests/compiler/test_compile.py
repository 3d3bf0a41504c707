"""kiln.compile: options checked before anything is written, recorded in the manifest, and the
same BuildOptions whether they come from keywords or from `kiln compile`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln.cli._main import _build_options, build_parser
from kiln.compiler import BuildOptions, compile_model
from kiln.errors import KilnError

REPO = Path(__file__).resolve().parents[2]
DIGITS = str(REPO / "models" / "digits_mlp.h5")


def test_kiln_compile_is_compile_model() -> None:
    assert kiln.compile is compile_model


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KilnError, match=r"Unknown compile option\(s\) \['reuse'\]; known: "
                       r"\['adder_levels', 'board', 'clock_period', 'force', 'input_precision', "
                       r"'input_shape', 'name', 'part', 'precision', 'weights'\]"):
        compile_model(DIGITS, tmp_path / "out", reuse=2)


def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(KilnError, match="reuse_factor must be a positive integer, not 0"):
        compile_model(DIGITS, tmp_path / "out", reuse_factor=0)
    with pytest.raises(KilnError, match="input_shape is for PyTorch/ONNX models"):
        compile_model(DIGITS, tmp_path / "out", input_shape=(64,))
    assert not (tmp_path / "out").exists()


def test_manifest_records_the_options(digits_artifact) -> None:  # type: ignore[no-untyped-def]
    manifest = digits_artifact.manifest
    assert manifest.build_options() == BuildOptions()
    assert manifest.options_digest == BuildOptions().digest()
    assert manifest.framework == "qkeras" and manifest.input_layout == "channels_last"


def test_reference_device_runs_the_saved_keras_model(  # type: ignore[no-untyped-def]
        digits_artifact, digits_model, digits_data) -> None:
    x = digits_data[1][:50]
    y = kiln.load(digits_artifact.path).predict(x, device="reference")
    assert np.array_equal(y, digits_model.predict(x, verbose=0).astype(np.float64))


@pytest.mark.parametrize("argv, expected", [
    ([], BuildOptions()),
    (["--io-type", "io_stream", "--precision", "fixed<16,6>", "--reuse-factor", "1"],
     BuildOptions(io_type="io_stream", precision="fixed<16,6>")),
    (["--input-shape", "1,8,8", "--input-precision", "fixed<8,2>", "--part", "xc7a35t",
      "--clock-period", "10"],
     BuildOptions(input_shape=(1, 8, 8), input_precision="fixed<8,2>", part="xc7a35t",
                  clock_period=10.0)),
])
def test_cli_builds_the_same_options(argv: list[str], expected: BuildOptions) -> None:
    args = build_parser().parse_args(["compile", "m.h5", "-o", "out", *argv])
    assert _build_options(args) == expected


def test_cli_refuses_bad_options_with_the_same_message() -> None:
    args = build_parser().parse_args(["compile", "m.h5", "-o", "out", "--reuse-factor", "0"])
    with pytest.raises(KilnError, match="reuse_factor must be a positive integer, not 0"):
        _build_options(args)
