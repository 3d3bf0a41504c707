"""What the fuzz suite found, each cut down to the smallest model that shows it. A bug in
committed code is ``xfail(strict=True)`` until it is fixed (the fix turns it into a failure
that says to drop the mark, and the fuzz seeds that hit it then pass), then a plain
regression test, as is one found in an uncommitted change. The two QKeras ones convert a model with
hls4ml (seconds each) and run in ``make test-slow``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kiln.fixed import execute
from kiln.ir import Dense, FixedType, Graph, Input, check_graph, frozen_codes


def _one_weight_dense(in_type: FixedType, weight: int, bias: int) -> Graph:
    acc = FixedType(11, 3, True)
    return check_graph(Graph("found", (
        Input("in", "", (1,), in_type),
        Dense("fc", "in", (1,), acc, weight=frozen_codes(np.array([[weight]])),
              bias=frozen_codes(np.array([bias])), weight_type=FixedType(6, 1, True),
              bias_type=FixedType(7, 0, True), accum_type=acc),
    )))


@pytest.mark.icarus
@pytest.mark.parametrize("in_type, weight, bias", [
    (FixedType(2, -1, False), 3, 1),
    (FixedType(2, 0, False), 3, 1),
    (FixedType(1, -2, False), 3, 1),
    (FixedType(3, 0, False), 3, 1),
    (FixedType(2, 0, False), 3, 0),
    (FixedType(2, 0, False), -3, 1),
    (FixedType(2, 0, True), 3, 1),
])
def test_constant_multiply_of_a_narrow_unsigned_input(in_type: FixedType, weight: int,
                                                      bias: int, tmp_path: Path) -> None:
    """Fuzz seed 13 of the generator's first version, run on the working tree of 22:08 UTC
    (kiln.rtl's adder-graph / common-subexpression change, not committed then; commit
    f8dcc84 builds it right): a Brevitas Conv2D whose 2-bit unsigned ReLU ``ufixed<2,-1>``
    feeds a conv gave RTL != HLS == kiln.fixed == Brevitas on 905 of 2,000 samples. Cut
    down: ``y = 3 * x + bias`` with ``x`` a 2-bit unsigned code. That RTL wrote ``-3x`` as
    ``{x[1] - x, x}`` (high part ``x[1] - x``, i.e. ``x >> 1``, where the unsigned ``x >> 2``
    is 0), so codes 0..3 gave 2, 5, 4, 7 instead of 2, 5, 8, 11. Kept as a regression test."""
    from kiln.rtl import emit_rtl, write_rtl
    from kiln.sim import run_icarus

    graph = _one_weight_dense(in_type, weight, bias)
    codes = np.arange(in_type.min_code, in_type.max_code + 1).reshape(-1, 1)
    write_rtl(emit_rtl(graph), tmp_path / "rtl")
    got = run_icarus(tmp_path / "rtl", codes, tmp_path / "icarus")
    want = execute(graph, torch.from_numpy(codes))["output"].numpy()
    assert got.tolist() == want.tolist()


def _qkeras_then(activation: Any, tmp_path: Path, n_in: int = 3) -> tuple[Any, Any]:
    """A QKeras Dense followed by ``activation``, lowered by kiln (no C simulation)."""
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    from kiln import frontend
    from kiln.compiler import BuildOptions

    inp = keras.Input(shape=(n_in,), name="x")
    x = QActivation(quantized_bits(6, 2, alpha=1), name="input_q")(inp)
    x = QDense(4, kernel_quantizer=quantized_bits(4, 1, alpha=1),
               bias_quantizer=quantized_bits(4, 1, alpha=1), name="fc1")(x)
    model = keras.Model(inp, QActivation(activation, name="act")(x), name="found")
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-2, 2, w.shape) for w in model.get_weights()])
    options = BuildOptions()
    graph = frontend.lower(frontend.convert(model, tmp_path / "hls", options), "found", options)
    return model, graph


def _kiln_vs_qkeras(model: Any, graph: Graph) -> int:
    from kiln.fixed import to_float

    t = graph.input.out_type
    codes = np.random.default_rng(1).integers(t.min_code, t.max_code + 1, size=(500, 3))
    x = to_float(torch.from_numpy(codes), t).numpy()
    got = to_float(execute(graph, torch.from_numpy(codes))["output"],
                   graph.output.out_type).numpy()
    want = model.predict(x.astype(np.float32), verbose=0)
    return int(np.any(got != want, axis=1).sum())


@pytest.mark.slow
def test_quantizer_without_fractional_bits_rounds_and_saturates(tmp_path: Path) -> None:
    """Fuzz seeds 1025, 1047, 1092 (and 3, 7, 8, 17): a QActivation
    whose quantizer has no fractional bits (``quantized_bits(3, 2)``: sign and 2 integer
    bits; ``quantized_relu(4, 4)``) is typed by hls4ml 1.3 as ``IntegerPrecisionType``
    (``hls4ml/utils/config.py``, ``decimal == 0``), i.e. ``fixed<3,3,TRN,WRAP>``; QKeras
    rounds to nearest and saturates. RTL == HLS == kiln.fixed, all != QKeras. Fixed:
    ``kiln.frontend._keras.qkeras_activation_type`` gives it ``fixed<3,3,RND_CONV,SAT>``."""
    from qkeras import quantized_bits

    model, graph = _qkeras_then(quantized_bits(3, 2, alpha=1), tmp_path)
    assert _kiln_vs_qkeras(model, graph) == 0, repr(graph)


@pytest.mark.slow
def test_unsigned_quantizer_after_a_dense_clips_negative_sums(tmp_path: Path) -> None:
    """Fuzz seeds 1008, 1055 (and 1095 with a QConv2D; seed 10 of the first generator):
    ``QDense`` then ``QActivation(quantized_bits(3, 2, keep_negative=False))``. hls4ml merges
    the activation into the Dense and kiln's unsigned correction leaves the Dense result
    ``ufixed<3,2,TRN,WRAP>``: a negative sum wraps to a positive code (-3.34 gives 0.5) where
    QKeras clips it to 0, and positive sums truncate where QKeras rounds. Fixed: the
    activation's configured type is QKeras's ``ufixed<3,2,RND_CONV,SAT>``, which the merged
    Dense result takes."""
    from qkeras import quantized_bits

    model, graph = _qkeras_then(quantized_bits(3, 2, keep_negative=False, alpha=1), tmp_path)
    assert _kiln_vs_qkeras(model, graph) == 0, repr(graph)
