"""infer_fixed_point: a float torch model typed from calibration data becomes a QONNX model
whose every tensor is a power-of-two type, built bit-exactly against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from kiln import frontend
from kiln.compiler import BuildOptions
from kiln.errors import InputShapeError, KilnError
from kiln.fixed import execute, from_float, to_float
from kiln.frontend import convert_torch, infer_fixed_point, load_torch, run_onnx
from kiln.frontend._torch import torch_reference_is_bit_exact

pytest.importorskip("qonnx")


def test_inferred_types_hold_the_data_and_are_built_bit_exactly(  # type: ignore[no-untyped-def]
        digits_data, tmp_path: Path) -> None:
    from models.digits_mlp_torch import MODEL_FILE

    x_train, x_test, y_train, y_test = digits_data
    inferred = infer_fixed_point(MODEL_FILE, x_train, (64,), bits=8, y=y_train)
    types = {t.tensor: str(t.fixed_type) for t in inferred.types}
    assert len(types) == 9  # input, 3 weights, 3 biases, 2 ReLU outputs
    assert types["input"] == "ufixed<8,1,RND_CONV,SAT>"  # pixels k/16 in [0, 1]
    assert types["output of '3' (Relu)"] == "ufixed<8,4,RND_CONV,SAT>"  # up to 13.9
    for t in inferred.types:  # each type holds its tensor's largest magnitude, with < 2x room
        top = 2.0 ** (t.fixed_type.integer - (1 if t.fixed_type.signed else 0))
        assert top / 2 <= t.max_abs < top
    assert (inferred.float_accuracy, inferred.fixed_accuracy) == (1346 / 1347, 1345 / 1347)

    source = load_torch(inferred.model)
    assert source.kind == "qonnx" and torch_reference_is_bit_exact(source, BuildOptions())
    graph = frontend.lower(convert_torch(source, tmp_path, BuildOptions()), "inferred",
                           BuildOptions())
    reference = run_onnx(inferred.model, x_test)
    out_type = graph.output.out_type
    reference_codes = from_float(torch.from_numpy(reference), out_type).numpy()
    assert np.array_equal(to_float(torch.from_numpy(reference_codes), out_type).numpy(),
                          reference)
    codes = from_float(torch.from_numpy(x_test.astype(np.float64)), graph.input.out_type)
    kiln_codes = execute(graph, codes)["output"].numpy()
    assert np.array_equal(kiln_codes, reference_codes)
    assert (kiln_codes.argmax(axis=1) == y_test).mean() > 0.95


def test_bad_calibration_data_and_quantized_models_are_refused() -> None:
    from models.digits_mlp_brevitas import QONNX_FILE

    model = nn.Sequential(nn.Linear(64, 10))
    with pytest.raises(InputShapeError, match=r"calibration inputs have shape \(5, 8\).*64"):
        infer_fixed_point(model, np.zeros((5, 8)), (64,))
    with pytest.raises(KilnError, match="bits=1"):
        infer_fixed_point(model, np.zeros((5, 64)), (64,), bits=1)
    with pytest.raises(KilnError, match="already quantized"):
        infer_fixed_point(QONNX_FILE, np.zeros((5, 64)))
