"""The Brevitas digits CNN, given channels-first as PyTorch lays it out: its QONNX export
through hls4ml in io_stream is bit-exact against the Brevitas model on all 450 test samples
(HLS level), and kiln's io_stream RTL against HLS, kiln.fixed and the QONNX reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import kiln
from kiln import hls
from kiln.compiler import BuildOptions
from kiln.fixed import from_float
from kiln.frontend import fixed_type
from kiln.frontend._onnx import convert_onnx
from kiln.frontend._torch import load_torch, prepare_torch

pytestmark = pytest.mark.slow
pytest.importorskip("brevitas")


def test_brevitas_cnn_hls_io_stream_equals_brevitas(digits_data, tmp_path: Path) -> None:
    from models.digits_cnn_brevitas import INPUT_SHAPE, images, load_model
    from models.digits_mlp_brevitas import predict

    model = load_model()
    _, x_test, _, y_test = digits_data
    x = images(x_test)  # (450, 1, 8, 8): channels first
    prepared = prepare_torch(load_torch(model, INPUT_SHAPE))
    assert prepared.input_type is not None
    graph = convert_onnx(prepared, tmp_path / "hls", BuildOptions(io_type="io_stream"),
                         "digits CNN")
    out_type = fixed_type(graph.get_output_variables()[0].type.precision, "CNN output")
    csim = hls.CSim(hls.write_and_compile(graph), prepared.input_type, out_type, 64, 10)
    # The hardware takes pixels channels-last (one beat per pixel, all its channels).
    pixels = torch.from_numpy(np.moveaxis(x, 1, -1).astype(np.float64))
    hls_codes = csim.run(from_float(pixels, prepared.input_type).numpy().reshape(len(x), -1))
    brevitas = torch.from_numpy(predict(model, x).astype(np.float64))
    assert np.array_equal(hls_codes, from_float(brevitas, out_type).numpy())
    assert (hls_codes.argmax(axis=1) == y_test).mean() == 407 / 450  # metrics.json: 0.9044


def test_brevitas_cnn_rtl_is_bit_exact_on_every_level(digits_data, tmp_path: Path) -> None:
    from kiln.verify import verify
    from models.digits_cnn_brevitas import QONNX_FILE, images

    out = tmp_path / "digits_cnn_brevitas"
    art = kiln.compile(QONNX_FILE, out, io_type="io_stream")
    assert art.manifest.build_options().io_type == "io_stream"
    assert art.manifest.reference_bit_exact
    assert art.manifest.input_shape == [8, 8, 1]
    assert art.manifest.input_layout == "channels_first"
    _, x_test, _, y_test = digits_data
    # Images as PyTorch lays them out, (n, 1, 8, 8); the runtime streams them channels-last.
    x = images(x_test)
    report = verify(out, x=x, labels=y_test)
    assert (report.samples, report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches) == (450, 0, 0, 0)
    assert report.passed and report.accuracy == 407 / 450
    rt = kiln.load(out)
    assert np.array_equal(rt.predict(x, device="cpu", raw=True),
                          rt.predict(np.moveaxis(x, 1, -1), device="cpu", raw=True))
