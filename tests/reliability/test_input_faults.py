"""Bad inputs and damaged installs are KilnErrors that say what and how to fix, never a
traceback or a silent answer: empty batches, ragged lists, `kiln verify --samples 0`,
non-finite weights, a read-only artifact, a garbage emulator library."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.cli._main import main
from kiln.compiler import BuildOptions, compile_artifact
from kiln.errors import ArtifactError, InputShapeError, KilnError, ModelLoadError

DEVICES = ["reference", "hls", "cpu", pytest.param("fpga-sim", marks=pytest.mark.verilator),
           pytest.param("fpga", marks=pytest.mark.verilator)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("raw", [False, True])
def test_an_empty_batch_gives_an_empty_result(tiny_artifact: Any, device: str, raw: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_FPGA", "sim")
    y = kiln.load(tiny_artifact.path).predict(np.zeros((0, 16)), device=device, raw=raw)
    assert y.shape == (0, 4)


def test_a_ragged_list_is_an_input_error(tiny_artifact: Any) -> None:
    with pytest.raises(InputShapeError, match="ragged"):
        kiln.load(tiny_artifact.path).predict([[0.0] * 16, [0.0] * 15], device="cpu")


def test_compare_of_nothing_is_an_input_error(tiny_artifact: Any) -> None:
    with pytest.raises(InputShapeError, match="at least one sample"):
        kiln.load(tiny_artifact.path).compare(np.zeros((0, 16)), devices=["cpu"])


@pytest.mark.parametrize("samples", ["0", "-5"])
def test_verify_of_no_samples_is_a_usage_error(tiny_artifact: Any, samples: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tiny_artifact.path), "--samples", samples]) == 2
    assert "verify needs at least one sample" in capsys.readouterr().err


def test_verify_of_empty_inputs_is_a_usage_error(tiny_artifact: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 16)))
    assert main(["verify", str(tiny_artifact.path), "--inputs", str(tmp_path / "x.npy")]) == 2
    assert "the inputs hold none" in capsys.readouterr().err


# a float model with a precision for every tensor: without the check it would compile
FLOAT_TORCH = BuildOptions(input_shape=(4,), precision="fixed<16,6>")


def _torch_mlp(bad: float) -> Any:
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        model[2].weight[1, 2] = bad
    return model


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_torch_weights_are_refused_by_name(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ModelLoadError, match=r"Layer '2', tensor 'weight' holds (nan|inf) at "
                                             r"index \(1, 2\)"):
        compile_artifact(_torch_mlp(bad), tmp_path / "out", FLOAT_TORCH)
    assert not (tmp_path / "out").exists()


def test_non_finite_torchscript_weights_are_refused_by_name(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "m.pt"
    torch.jit.script(_torch_mlp(float("nan"))).save(str(path))
    with pytest.raises(ModelLoadError, match=r"Layer '2', tensor 'weight' holds nan at index "
                                             r"\(1, 2\) \(1 of its 6 values"):
        compile_artifact(str(path), tmp_path / "out", FLOAT_TORCH)


def test_non_finite_qkeras_weights_are_refused_by_name(tmp_path: Path) -> None:
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((4,), name="x")
    out = QDense(2, name="fc", kernel_quantizer=quantized_bits(4, 0, alpha=1),
                 bias_quantizer=quantized_bits(4, 0, alpha=1))(inp)
    model = keras.Model(inp, out)
    kernel, bias = model.get_weights()
    kernel[3, 1] = np.nan
    model.set_weights([kernel, bias])
    with pytest.raises(ModelLoadError, match=r"Layer 'fc', tensor 'kernel' holds nan at index "
                                             r"\(3, 1\)"):
        compile_artifact(model, tmp_path / "out", BuildOptions())


def test_a_read_only_artifact_says_how_to_fix_it(artifact_copy: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(rtl_dir: Path, cache_dir: Path, **kw: Any) -> Any:
        # what the build meets in a read-only artifact (chmod does not stop root, who runs CI)
        raise PermissionError(13, "Permission denied", str(Path(cache_dir) / "emulator"))

    monkeypatch.setattr("kiln.sim.Emulator.build", read_only)
    with pytest.raises(ArtifactError, match=r"may not write there \(Permission denied: .*"
                                            r"Make the artifact writable \(chmod -R u\+w"):
        kiln.load(artifact_copy).predict(np.zeros((1, 16)), device="fpga-sim")


@pytest.mark.verilator
def test_a_changed_emulator_library_is_rebuilt(artifact_copy: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from kiln.sim import Emulator

    library = Emulator.build(artifact_copy / "rtl", artifact_copy / "sim").library
    garbage = library.with_name("garbage")
    garbage.write_bytes(b"not an ELF file")
    garbage.replace(library)      # a new file: the one this process mapped stays intact
    with caplog.at_level(logging.WARNING, logger="kiln.sim"):
        Emulator.build(artifact_copy / "rtl", artifact_copy / "sim")
    assert "changed since it was built; rebuilding it" in caplog.text
    assert library.read_bytes()[:4] == b"\x7fELF"


def test_a_garbage_emulator_library_is_a_kiln_error(tmp_path: Path) -> None:
    from kiln.sim._emulator import _Library

    (tmp_path / "libkiln_emu.so").write_bytes(b"not an ELF file")
    with pytest.raises(KilnError, match=r"Cannot load the emulator library .*damaged or built "
                                        r"elsewhere\. Delete .* and run again to rebuild it"):
        _Library(tmp_path / "libkiln_emu.so")


def test_a_garbage_c_simulation_library_is_an_artifact_error(tiny_artifact: Any,
                                                             tmp_path: Path) -> None:
    from kiln.hls import CSim

    g = tiny_artifact.graph
    (tmp_path / "kiln_model-0.so").write_bytes(b"not an ELF file")
    with pytest.raises(ArtifactError, match=r"Cannot load the C simulation library .*--force"):
        CSim(tmp_path / "kiln_model-0.so", g.input.out_type, g.output.out_type, 16, 4)
