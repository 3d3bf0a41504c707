"""The models the benchmarks run: kiln's shipped digits models, hls4ml's jet-tagging benchmark
models, and small synthetic QKeras MLPs for the scaling sweeps; with their inputs, their
framework predictor and their hls4ml project."""

from __future__ import annotations

import functools
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import BUILD
from models.shipped import EXAMPLE_MODELS, REPO

JET_FLOAT_PRECISION = "fixed<16,6>"  # hls4ml's default type: the "float, 16-bit" jet config


@dataclass(frozen=True)
class BenchModel:
    """One model as the benchmarks see it.

    Attributes:
        name: short name, also the build folder under ``build/bench/models/``.
        description: one line for the tables.
        source: a model path (.h5, .json, .onnx) or a factory returning a Keras model.
        framework: "qkeras", "keras" or "brevitas".
        options: extra ``kiln.compile`` options (``weights``, ``precision``).
        data: real inputs; None draws random codes over the whole input type.
        torch_module: factory of the PyTorch module (Brevitas models), the framework model.
    """

    name: str
    description: str
    source: Path | Callable[[], Any]
    framework: str
    options: tuple[tuple[str, Any], ...] = ()
    data: Callable[[], np.ndarray] | None = None
    torch_module: Callable[[], Any] | None = None

    @property
    def build_dir(self) -> Path:
        return BUILD / "models" / self.name

    def missing(self) -> str | None:
        """Why the model cannot run here (a file is absent), else None."""
        files = [] if callable(self.source) else [self.source]
        files += [Path(v) for k, v in self.options if k == "weights"]
        absent = [str(f) for f in files if not Path(f).is_file()]
        return f"not found: {', '.join(absent)}" if absent else None

    def load(self) -> Any:
        """What ``kiln.compile`` takes: the path, or the model the factory builds."""
        return self.source() if callable(self.source) else str(self.source)

    def compile(self, force: bool = False) -> Any:
        """``kiln.compile`` into :attr:`build_dir`; reused when model and options are unchanged."""
        import kiln

        return kiln.compile(self.load(), self.build_dir, force=force, **dict(self.options))


def _digits_inputs() -> np.ndarray:
    from models.data import digits_split

    return digits_split()[1]


def _brevitas_module() -> Any:
    from models.digits_mlp_brevitas import load_model

    return load_model()


def _jet(name: str, json_file: str, weights: str | None, description: str,
         framework: str) -> BenchModel:
    options: list[tuple[str, Any]] = []
    if weights is not None:
        options.append(("weights", EXAMPLE_MODELS / weights))
    if framework == "keras":
        options.append(("precision", JET_FLOAT_PRECISION))
    return BenchModel(name, description, EXAMPLE_MODELS / json_file, framework, tuple(options))


def _digits_images() -> np.ndarray:
    return _digits_inputs().reshape(-1, 8, 8, 1)


DIGITS_CNN = BenchModel("digits_cnn", "QKeras CNN 8x8x1 conv-pool-conv-dense, 6-bit, io_stream",
                        REPO / "models" / "digits_cnn.h5", "qkeras",
                        (("io_type", "io_stream"),), data=_digits_images)
DIGITS = BenchModel("digits_mlp", "QKeras 64-32-32-10, 6-bit (kiln's shipped model)",
                    REPO / "models" / "digits_mlp.h5", "qkeras", data=_digits_inputs)
DIGITS_BREVITAS = BenchModel(
    "digits_mlp_brevitas", "Brevitas 64-32-32-10, 6-bit (kiln's shipped model, QONNX)",
    REPO / "models" / "digits_mlp_brevitas.onnx", "brevitas", data=_digits_inputs,
    torch_module=_brevitas_module)
JET_FLOAT = _jet("jet_float16", "KERAS_3layer.json", "KERAS_3layer_weights.h5",
                 f"hls4ml jet MLP 16-64-32-32-5, float model at {JET_FLOAT_PRECISION}", "keras")
JET_PRUNED70 = _jet("jet_pruned70", "KERAS_3layer.json",
                    "KERAS_3layer_70pruned_retrained_weights.h5",
                    f"jet MLP, 70% of weights pruned, {JET_FLOAT_PRECISION}", "keras")
JET_PRUNED95 = _jet("jet_pruned95", "KERAS_3layer.json",
                    "KERAS_3layer_95pruned_retrained_weights.h5",
                    f"jet MLP, 95% of weights pruned, {JET_FLOAT_PRECISION}", "keras")
JET_QKERAS6 = _jet("jet_qkeras6", "qkeras_3layer.json", None,
                   "jet MLP in QKeras, 6-bit weights and activations", "qkeras")

#: The models of the throughput, compile-time, hardware and runtime families.
MODELS = (DIGITS, DIGITS_BREVITAS, JET_FLOAT, JET_PRUNED70, JET_PRUNED95, JET_QKERAS6)


def synthetic_mlp(width: int, bits: int) -> BenchModel:
    """A QKeras MLP 16-``width``-5 with ``bits``-bit input, weights, biases and ReLU, and
    seeded random weights (the same model every run, so its artifact is reused)."""
    return BenchModel(f"mlp_w{width}_b{bits}",
                      f"synthetic QKeras 16-{width}-5, {bits}-bit",
                      functools.partial(_synthetic_keras, width, bits), "qkeras")


def _synthetic_keras(width: int, bits: int) -> Any:
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    def quantizers() -> dict[str, Any]:
        return {"kernel_quantizer": quantized_bits(bits, 0, alpha=1),
                "bias_quantizer": quantized_bits(bits, 0, alpha=1)}

    inp = keras.Input(shape=(16,), name="features")
    x = QActivation(quantized_bits(bits, 2, alpha=1), name="input_q")(inp)
    x = QDense(width, name="hidden", **quantizers())(x)
    x = QActivation(quantized_relu(bits, 2), name="relu")(x)
    out = QDense(5, name="out", **quantizers())(x)
    model = keras.Model(inp, out, name=f"mlp_w{width}_b{bits}")
    rng = np.random.default_rng(1000 * width + bits)
    model.set_weights([rng.uniform(-1.0, 1.0, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def inputs(model: BenchModel, runtime: Any, n: int, seed: int = 0) -> np.ndarray:
    """``n`` inputs: the model's data repeated to length ``n``, or random codes over the
    whole input type (every code equally likely)."""
    from kiln.verify import random_inputs

    if model.data is None:
        return random_inputs(runtime, n, seed)
    x = np.asarray(model.data())
    return np.tile(x, (math.ceil(n / len(x)),) + (1,) * (x.ndim - 1))[:n]


def framework_predictor(model: BenchModel, artifact: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The framework model's own batch predict: QKeras/Keras ``predict`` or the PyTorch
    (Brevitas) module's forward."""
    if model.torch_module is not None:
        import torch

        module = model.torch_module().eval()

        def forward(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()
        return forward

    from kiln.frontend import open_source

    return open_source(artifact.path / "model", artifact.manifest.framework).reference()


@functools.cache
def hls4ml_build(model: BenchModel) -> tuple[Any, float]:
    """hls4ml's own flow on the model, with the configuration kiln uses (``bit_exact``
    types): convert, then ``ModelGraph.compile()`` (write the project, build the C
    simulation with g++). Built once per process into ``build/bench/hls4ml/<name>``;
    returns the ModelGraph and the seconds it took."""
    from kiln import frontend
    from kiln.compiler import BuildOptions

    out = BUILD / "hls4ml" / model.name
    shutil.rmtree(out, ignore_errors=True)
    options = dict(model.options)
    build = BuildOptions(precision=options.get("precision"))
    start = time.perf_counter()
    source = frontend.load_source(model.load(), build, options.get("weights"))
    graph = source.convert(out, build)
    graph.compile()
    return graph, time.perf_counter() - start
