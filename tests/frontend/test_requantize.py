"""requantize_pow2: a Brevitas model with float scales becomes a power-of-two QONNX model that
kiln builds bit-exactly, with every scale change and the accuracy cost reported."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from kiln import frontend
from kiln.compiler import BuildOptions
from kiln.errors import KilnError, PrecisionError
from kiln.fixed import execute, from_float, to_float
from kiln.frontend import convert_torch, load_torch, requantize_pow2, run_onnx

qnn = pytest.importorskip("brevitas.nn")


@pytest.fixture(scope="module")
def float_scaled_mlp() -> nn.Module:
    """The trained digits MLP's weights behind Brevitas' default (float-scale) quantizers."""
    from brevitas.quant import Int8Bias

    from models.digits_mlp_brevitas import load_model

    def linear(n_in: int, n_out: int, quant_out: bool) -> nn.Module:
        return qnn.QuantLinear(n_in, n_out, bias=True, bias_quant=Int8Bias,
                               return_quant_tensor=quant_out)

    model = nn.Sequential(qnn.QuantIdentity(return_quant_tensor=True), linear(64, 32, True),
                          qnn.QuantReLU(return_quant_tensor=True), linear(32, 32, True),
                          qnn.QuantReLU(return_quant_tensor=True), linear(32, 10, False)).eval()
    trained = load_model().state_dict()
    with torch.no_grad():
        for index, name in ((1, "fc1"), (3, "fc2"), (5, "logits")):
            model[index].weight.copy_(trained[f"{name}.weight"])
            model[index].bias.copy_(trained[f"{name}.bias"])
    return model


def test_float_scales_are_refused_with_the_way_out(float_scaled_mlp, tmp_path: Path) -> None:
    with pytest.raises(PrecisionError, match=r"layer '1' \(QuantLinear\) weight_quant "
                       r"Int8WeightPerTensorFloat: scale .*requantize_pow2"):
        convert_torch(load_torch(float_scaled_mlp, (64,)), tmp_path, BuildOptions())


def test_requantized_model_is_built_bit_exactly_and_its_cost_reported(  # type: ignore[no-untyped-def]
        float_scaled_mlp, digits_data, tmp_path: Path) -> None:
    _, x_test, _, y_test = digits_data
    result = requantize_pow2(float_scaled_mlp, (64,), x_test, y_test)
    # Three weight, three bias and two ReLU quantizers had float scales; the input's was 2^-7.
    assert len(result.changes) == 8
    assert [c.quantizer.split(" ")[1] for c in result.changes[:2]] == ["'1'", "'1'"]
    for change in result.changes:
        assert math.log2(change.new_scale) == round(math.log2(change.new_scale))
        assert change.old_scales[1] <= change.new_scale < 2 * change.old_scales[1]
        assert 0 <= change.bits_lost < 1
    assert (result.accuracy_before, result.accuracy_after) == (295 / 450, 392 / 450)
    assert result.predictions_changed == 115 / 450
    assert "accuracy 0.6556 -> 0.8711" in str(result)

    options = BuildOptions()
    graph = frontend.lower(convert_torch(load_torch(result.model), tmp_path, options),
                           "requantized", options)
    reference = run_onnx(result.model, x_test)
    codes = from_float(torch.from_numpy(x_test.astype(np.float64)), graph.input.out_type)
    kiln_codes = execute(graph, codes)["output"].numpy()
    reference_codes = from_float(torch.from_numpy(reference), graph.output.out_type).numpy()
    # The requantized model defines every type: its outputs are exact codes of the output type.
    assert np.array_equal(to_float(torch.from_numpy(reference_codes), graph.output.out_type)
                          .numpy(), reference)
    assert np.array_equal(kiln_codes, reference_codes)
    assert np.array_equal(kiln_codes.argmax(axis=1), reference.argmax(axis=1))


def test_power_of_two_models_are_unchanged_and_float_models_refused() -> None:
    from models.digits_mlp_brevitas import QONNX_FILE

    assert requantize_pow2(QONNX_FILE).changes == ()
    with pytest.raises(KilnError, match="no quantizers to re-quantize.*precision="):
        requantize_pow2(nn.Sequential(nn.Linear(4, 2)), (4,))
