"""Bad inputs, one row each: the KilnError subclass kiln raises, and that its message names
the thing that is wrong and says how to fix it (DESIGN.md: "say what, where and how to fix
it"). Rows where kiln does not do that yet are ``xfail(strict=True)`` with the reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.errors import (
    ArtifactError,
    DeviceError,
    InputShapeError,
    KilnError,
    ModelLoadError,
    PrecisionError,
    UnsupportedLayerError,
)

TINY_H5 = Path(__file__).resolve().parents[1] / "flows" / "fixtures" / "tiny_mlp.h5"  # 16-8-4
RUNTIME_SEED = 4  # a fuzz model (float Keras MLP, 3 inputs) compiled once for the session


@dataclass(frozen=True)
class Ctx:
    """What a row may use: a scratch folder and a loaded Runtime of a compiled model."""

    tmp: Path
    runtime: Any

    def compile(self, model: Any, **options: Any) -> Any:
        import kiln

        return kiln.compile(model, self.tmp / "art", **options)


@dataclass(frozen=True)
class Row:
    id: str
    action: Callable[[Ctx], Any]
    error: type[KilnError]
    says: tuple[str, ...]          # regexes the message must match: the thing, and the fix
    xfail: str = ""                # why kiln's answer is not good enough yet (strict)


def _file(ctx: Ctx, name: str, data: bytes) -> Path:
    path = ctx.tmp / name
    path.write_bytes(data)
    return path


def _keras(layer: Callable[[], Any], shape: tuple[int, ...]) -> Any:
    from tensorflow import keras

    inp = keras.Input(shape=shape)
    return keras.Model(inp, layer()(inp), name="bad")


def _conv2d() -> Any:
    from tensorflow import keras

    return keras.layers.Conv2D(2, 3, name="conv")


def _dilated() -> Any:
    from tensorflow import keras

    return keras.layers.Conv2D(2, 3, dilation_rate=2, name="dilated")


def _dense0() -> Any:
    from tensorflow import keras

    return keras.layers.Dense(0, name="fc0")


def _linear0() -> Any:
    import torch

    return torch.nn.Sequential(torch.nn.Linear(4, 0))


def _torch_linear() -> Any:
    import torch

    return torch.nn.Sequential(torch.nn.Linear(4, 2))


def _brevitas_conv1d(n_linear: int, pool: bool = True) -> Any:
    """QuantConv1d(2 -> 3, kernel 2) -> QuantReLU -> MaxPool1d(2) (if ``pool``) -> Flatten ->
    QuantLinear, for input (2, 8); ``n_linear`` inputs to the Linear (9 with the pool, 21
    without, is right; anything else is not)."""
    import brevitas.nn as qnn
    import torch
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    class Act(Uint8ActPerTensorFixedPoint):  # type: ignore[misc]
        scaling_impl_type = ScalingImplType.CONST
        max_val = 2.0

    q = {"weight_quant": Int8WeightPerTensorFixedPoint,
         "bias_quant": Int8BiasPerTensorFixedPointInternalScaling}
    return torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=Act, return_quant_tensor=True),
        qnn.QuantConv1d(2, 3, 2, return_quant_tensor=True, **q),
        qnn.QuantReLU(act_quant=Act, return_quant_tensor=True),
        torch.nn.MaxPool1d(2) if pool else torch.nn.Identity(),
        torch.nn.Flatten(), qnn.QuantLinear(n_linear, 2, **q))


ROWS = [
    # --- inputs to a compiled model
    Row("wrong input shape", lambda c: c.runtime.predict(np.zeros((2, 5)), device="cpu"),
        InputShapeError, (r"shape \(2, 5\)", r"takes \(n, 3\)")),
    Row("wrong rank", lambda c: c.runtime.predict(np.zeros((2, 3, 1)), device="cpu"),
        InputShapeError, (r"shape \(2, 3, 1\)", r"\(n, 3\)")),
    Row("NaN input", lambda c: c.runtime.predict(np.array([[0.0, np.nan, 1.0]]), device="cpu"),
        InputShapeError, (r"NaN .*sample 0, element 1", "Clean the data")),
    Row("ragged input", lambda c: c.runtime.predict([[1, 2, 3], [4]], device="cpu"),
        InputShapeError, ("ragged", r"array of shape \(n, 3\)")),
    Row("text input", lambda c: c.runtime.predict(np.array([["a", "b", "c"]]), device="cpu"),
        InputShapeError, (r"numbers, not dtype <U1",)),
    Row("unknown device", lambda c: c.runtime.predict(np.zeros((1, 3)), device="tpu"),
        DeviceError, ("'tpu'", "choose one of: .*fpga-sim.*cpu")),
    Row("fpga without a board",
        lambda c: c.runtime.predict(np.zeros((1, 3)), device="fpga"),
        DeviceError, ("needs a board", "kiln bitstream", "KILN_FPGA")),
    Row("verify no samples", lambda c: __import__("kiln.verify").verify.verify(
        c.runtime.artifact.path, x=np.zeros((0, 3))), InputShapeError, ("at least one sample",)),
    # --- build options
    Row("reuse factor that does not fold",
        lambda c: c.compile(TINY_H5, reuse_factor={"fc1": 5}), KilnError,
        (r"Dense 'fc1' \(16 inputs, 8 outputs\)", "reuse factor 5",
         "Valid choices near it: 1, 2, 4, 8, 16, 32")),
    Row("reuse factor out of range", lambda c: c.compile(TINY_H5, reuse_factor=10**6),
        KilnError, ("fc1", "1000000", "Valid choices near it: .*128")),
    Row("reuse factor 0", lambda c: c.compile(TINY_H5, reuse_factor=0), KilnError,
        ("reuse_factor", "positive integer, not 0")),
    Row("reuse factor of a layer the model lacks",
        lambda c: c.compile(TINY_H5, reuse_factor={"fc9": 2}), KilnError,
        (r"\['fc9'\]", "its layers: .*fc1.*fc2")),
    Row("unknown io type", lambda c: c.compile(TINY_H5, io_type="io_serial"), KilnError,
        ("'io_serial'", "'io_parallel' or 'io_stream'")),
    Row("unknown board", lambda c: c.compile(TINY_H5, board="nosuchboard"), KilnError,
        ("'nosuchboard'", "kiln knows: .*ulx3s-85f")),
    Row("unknown part", lambda c: c.compile(TINY_H5, part="xc7nosuchpart"), KilnError,
        ("'xc7nosuchpart'", "it knows .*xc7z020", "Choose one of those")),
    Row("empty part", lambda c: c.compile(TINY_H5, part=""), KilnError,
        ("part must be an FPGA part name such as",)),
    Row("bad clock period", lambda c: c.compile(TINY_H5, clock_period=float("nan")),
        KilnError, ("clock_period", "positive number of ns", "nan")),
    Row("precision without widths", lambda c: c.compile(TINY_H5, precision="fixed<4>"),
        PrecisionError, ("'fixed<4>'", "width and integer bits")),
    Row("unknown rounding mode",
        lambda c: c.compile(TINY_H5, input_precision="fixed<8,3,RND_FOO,SAT>"),
        PrecisionError, ("'RND_FOO'", "one of TRN, .*RND_CONV")),
    Row("width beyond 62 bits", lambda c: c.compile(TINY_H5, precision="fixed<100,3>"),
        PrecisionError, ("100", "from 1 to 62")),
    Row("input_shape for a Keras model", lambda c: c.compile(TINY_H5, input_shape=(16,)),
        KilnError, ("input_shape is for PyTorch/ONNX models",)),
    Row("PyTorch model without input_shape",
        lambda c: c.compile(_torch_linear(), precision="fixed<8,3>"), InputShapeError,
        ("no input shape", r"input_shape=\(64,\)")),
    Row("zero input_shape",
        lambda c: c.compile(_torch_linear(), input_shape=(0,), precision="fixed<8,3>"),
        InputShapeError, (r"input_shape=\(0,\)", "positive integer")),
    # --- model files and objects
    Row("missing file", lambda c: c.compile(c.tmp / "nope.h5"), ModelLoadError,
        ("nope.h5 does not exist", r"kiln reads \.h5")),
    Row("directory given as model", lambda c: c.compile(c.tmp), ModelLoadError,
        ("is a directory, not a model file", r"kiln reads \.h5")),
    Row("empty .onnx file", lambda c: c.compile(_file(c, "m.onnx", b"")), ModelLoadError,
        (r"m\.onnx is empty \(0 bytes\)", "export the model again")),
    Row("empty .h5 file", lambda c: c.compile(_file(c, "m.h5", b"")), ModelLoadError,
        (r"m\.h5 is empty \(0 bytes\)", "Save or export the model again")),
    Row("garbage .h5 file", lambda c: c.compile(_file(c, "m.h5", b"garbage")), ModelLoadError,
        (r"Cannot read Keras model .*m\.h5", r"model\.save\('x\.h5'\)")),
    Row("garbage .onnx file", lambda c: c.compile(_file(c, "m.onnx", b"garbage")),
        ModelLoadError, (r"m\.onnx",)),
    Row("unknown file type", lambda c: c.compile(_file(c, "m.txt", b"x")), ModelLoadError,
        (r"'\.txt' is not a model format", r"kiln reads \.h5")),
    Row(".json without its weights", lambda c: c.compile(_file(c, "m.json", b"{}")),
        ModelLoadError, (r"m_weights\.h5", "pass weights=PATH")),
    Row("not a model", lambda c: c.compile(None), ModelLoadError,
        ("got a NoneType", "Keras model or a model path")),
    Row("not an artifact", lambda c: __import__("kiln").load(c.tmp),
        ArtifactError, ("not a kiln artifact", "kiln compile MODEL -o DIR")),
    # --- layers
    Row("0-unit Dense", lambda c: c.compile(_keras(_dense0, (4,)), precision="fixed<8,3>"),
        UnsupportedLayerError, ("'fc0'", "units=0", "give units a positive number")),
    Row("0-output Linear",
        lambda c: c.compile(_linear0(), input_shape=(4,), precision="fixed<8,3>"),
        UnsupportedLayerError, (r"'0' \(Linear\)", "out_features=0", "positive size")),
    Row("folded Conv2D in io_parallel",
        lambda c: c.compile(_keras(_conv2d, (8, 8, 1)), precision="fixed<8,3>", reuse_factor=2),
        UnsupportedLayerError, ("'conv'", "reuse factor 2", "io_type='io_stream'")),
    Row("dilated Conv2D", lambda c: c.compile(_keras(_dilated, (8, 8, 1)), io_type="io_stream",
                                             precision="fixed<8,3>"),
        UnsupportedLayerError, ("'dilated'", r"dilation_rate=\(2, 2\) \(use 1\)")),
    Row("Brevitas MaxPool1d",
        lambda c: c.compile(_brevitas_conv1d(9), input_shape=(2, 8), io_type="io_stream"),
        UnsupportedLayerError, (r"'3' \(MaxPool1d\)", "Fix: make the model 2D")),
    Row("PyTorch model that fails on its input_shape",
        lambda c: c.compile(_brevitas_conv1d(6, pool=False), input_shape=(2, 8),
                            io_type="io_stream"),
        InputShapeError, (r"does not run on input_shape=\(2, 8\)",
                          r"'5' \(QuantLinear, in_features=6\) failed on an input of shape "
                          r"\(1, 21\)", r"It runs on input_shape=\(2, 3\)")),
]


@pytest.fixture(scope="module")
def runtime(compiled: Any) -> Any:
    import kiln

    _, art, _ = compiled(RUNTIME_SEED)
    return kiln.load(art.path)


def _marks(row: Row) -> list[Any]:
    return [pytest.mark.xfail(strict=True, reason=row.xfail)] if row.xfail else []


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id, marks=_marks(row)) for row in ROWS])
def test_bad_input_is_refused_by_name_with_the_fix(row: Row, runtime: Any,
                                                    tmp_path: Path) -> None:
    with pytest.raises(KilnError) as info:
        row.action(Ctx(tmp_path, runtime))
    assert isinstance(info.value, row.error), (
        f"{row.id}: {type(info.value).__name__}, not {row.error.__name__}: {info.value}")
    message = str(info.value)
    for pattern in row.says:
        assert re.search(pattern, message), (
            f"{row.id}: the message does not say {pattern!r}:\n{message}")
    assert not (tmp_path / "art").exists(), f"{row.id}: an artifact was written anyway"
