"""QKeras's hard ``quantized_sigmoid`` / ``quantized_tanh`` (hls4ml's HardActivation) built
as a scale and shift with a saturating cast (``kiln.frontend._lower_hard``): equal to QKeras
over inputs well past both clips, and refused where the clip would matter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln import frontend
from kiln.compiler import BuildOptions
from kiln.errors import UnsupportedLayerError
from kiln.fixed import execute, from_float, to_float
from kiln.ir import Dense, FixedType, Graph, Input, check_graph


def _model(input_quantizer: bool) -> Any:
    """QDense -> hard quantized_tanh(6) -> QDense -> hard quantized_sigmoid(4): sums reach
    about +-6, so both clips and both saturations are exercised."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_sigmoid, quantized_tanh
    from tensorflow import keras

    inp = keras.Input((6,), name="x")
    x = QActivation(quantized_bits(8, 3, alpha=1), name="input_q")(inp) if input_quantizer \
        else inp
    x = QDense(5, kernel_quantizer=quantized_bits(5, 1, alpha=1),
               bias_quantizer=quantized_bits(5, 1, alpha=1), name="fc1")(x)
    x = QActivation(quantized_tanh(6), name="tanh")(x)
    x = QDense(4, kernel_quantizer=quantized_bits(5, 2, alpha=1),
               bias_quantizer=quantized_bits(5, 1, alpha=1), name="fc2")(x)
    model = keras.Model(inp, QActivation(quantized_sigmoid(4), name="sigmoid")(x), name="hard")
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(-2, 2, w.shape) for w in model.get_weights()])
    return model


def _inputs(graph: Graph, samples: int) -> torch.Tensor:
    t = graph.input.out_type
    rng = np.random.default_rng(4)
    return torch.from_numpy(rng.integers(t.min_code, t.max_code + 1, (samples, 6)))


def _qkeras_codes(model: Any, graph: Graph, codes: torch.Tensor) -> np.ndarray:
    x = to_float(codes, graph.input.out_type).numpy().astype(np.float32)
    y = torch.from_numpy(model.predict(x, verbose=0).astype(np.float64))
    out = from_float(y, graph.output.out_type)
    assert np.array_equal(to_float(out, graph.output.out_type).numpy(), y.numpy()), \
        "QKeras's outputs are codes of the output type"
    return out.numpy()


@pytest.mark.parametrize("input_quantizer", [True, False])
def test_hard_activations_equal_qkeras_past_the_clips(input_quantizer: bool,
                                                      tmp_path: Path) -> None:
    model = _model(input_quantizer)
    options = BuildOptions(input_precision=None if input_quantizer else "fixed<8,4>")
    graph = frontend.lower(frontend.convert(model, tmp_path, options), "hard", options)
    hard = [n for n in graph.nodes if n.name in ("tanh", "sigmoid")]
    assert [type(n).__name__ for n in hard] == ["Dense", "Dense"]
    assert [str(n.out_type) for n in hard] == ["fixed<6,1,RND_CONV,SAT>",
                                                "ufixed<4,0,RND_CONV,SAT>"]
    assert frontend.reference_is_bit_exact(model, options) == input_quantizer
    codes = _inputs(graph, 3000)
    got = execute(graph, codes, trace=True)
    assert np.array_equal(got["output"].numpy(), _qkeras_codes(model, graph, codes))
    tanh = to_float(got["tanh"], hard[0].out_type).numpy()
    sigmoid = to_float(got["output"], graph.output.out_type).numpy()
    # Both ends of both functions were reached (the clips were exercised, not just the ramp).
    assert tanh.min() == -1.0 and tanh.max() == 1 - 2**-5
    assert sigmoid.min() == 0.0 and sigmoid.max() == 1 - 2**-4


def test_a_result_type_wider_than_the_function_is_refused(tmp_path: Path) -> None:
    """With a result type that holds 1.5, hls4ml's clip to [0, 1] would matter: refused."""
    from qkeras import QActivation, quantized_bits, quantized_sigmoid
    from tensorflow import keras

    inp = keras.Input((3,), name="x")
    x = QActivation(quantized_bits(8, 3, alpha=1), name="input_q")(inp)
    model = keras.Model(inp, QActivation(quantized_sigmoid(4), name="sig")(
        keras.layers.Dense(3, name="fc")(x)))
    options = BuildOptions()
    model_graph = frontend.convert(model, tmp_path, options)
    model_graph.graph["sig"].get_output_variable().type.precision.integer = 2  # ufixed<4,2>
    with pytest.raises(UnsupportedLayerError, match=r"'sig' \(hard_sigmoid\).*outside \[0, 1\]"
                                                    r".*Fix: leave"):
        frontend.lower(model_graph, "m", options)


def test_scale_and_shift_sums_exactly() -> None:
    """The node the hard activations become: x * 0.5 + 0.5 cast once, on every input code."""
    from kiln.frontend._lower_norm import scale_and_shift

    in_t = FixedType(6, 3, True)
    node = scale_and_shift("s", "in", Input("in", "", (2,), in_t), np.array([1]),
                           FixedType(2, 1, True), np.array([1]), FixedType(2, 1, True),
                           FixedType(4, 0, False, "RND_CONV", "SAT"))
    assert isinstance(node, Dense)
    graph = check_graph(Graph("g", (Input("in", "", (2,), in_t), node)))
    codes = torch.arange(in_t.min_code, in_t.max_code + 1).reshape(-1, 1).repeat(1, 2)
    got = to_float(execute(graph, codes)["output"], node.out_type).numpy()[:, 0]
    x = to_float(codes, in_t).numpy()[:, 0]
    want = np.clip(np.round(np.clip(0.5 * x + 0.5, 0, 1) * 16), 0, 15) / 16  # half to even
    assert np.array_equal(got, want)


@pytest.mark.slow
@pytest.mark.verilator
def test_hard_activations_rtl_equals_hls_equals_qkeras(tmp_path: Path) -> None:
    """The whole flow on the same model: RTL (Verilator) == HLS C-sim == kiln.fixed ==
    QKeras on 2,000 inputs over the whole input type."""
    import kiln
    from kiln.sim import Emulator

    model = _model(True)
    art = kiln.compile(model, tmp_path / "hard", name="hard")
    assert art.manifest.reference_bit_exact
    rt = kiln.load(art.path)
    codes = _inputs(rt.graph, 2000)
    want = _qkeras_codes(model, rt.graph, codes)
    rtl = Emulator.build(art.path / "rtl", art.path / "sim").run(codes.numpy()).codes
    assert np.array_equal(np.asarray(rtl), want)
    assert np.array_equal(rt.device("hls").run(codes.numpy()).outputs, want)
    assert np.array_equal(rt.device("cpu").run(codes.numpy()).outputs, want)
