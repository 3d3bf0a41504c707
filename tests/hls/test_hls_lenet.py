"""The LeNet's HLS C simulation builds (docs/lenet.md, "Compiling for the ULX3S 85F", 4):
hls4ml's project for the shipped QKeras LeNet, io_stream, with the reuse factors ``auto``
picked for the ULX3S 85F in that measurement (fc1 folded 100,000 times: one 400,000-element
weight array), and its C simulation equal to kiln.fixed, code for code, and to
QKeras on 100 test images. Before kiln rewrote the weight headers, g++ did not finish it in
37 minutes (fc1's 400,000 ap_fixed initializers)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # about 30 s of CPU; minutes on a loaded machine

MODEL = Path(__file__).parents[2] / "models" / "lenet_mnist.h5"
FACTORS = {"conv1": 250, "conv2": 2500, "fc1": 100000, "logits": 5000}
BUILD_SECONDS = 300  # the g++ build took 14 s (7 s of CPU) at load 4 on 2 cores


def test_lenet_csim_builds_and_equals_kiln_fixed_and_qkeras(tmp_path: Path) -> None:
    from kiln import frontend, hls
    from kiln.compiler import BuildOptions
    from kiln.fixed import execute, from_float, to_float
    from models.data import mnist_split

    options = BuildOptions(io_type="io_stream", reuse_factor=FACTORS)
    source = frontend.load_source(MODEL, options)
    converted = source.convert(tmp_path / "hls", options)
    graph = frontend.lower(converted, "lenet", options)
    start = time.monotonic()
    library = hls.write_and_compile(converted)
    assert time.monotonic() - start < BUILD_SECONDS
    csim = hls.CSim(library, graph.input.out_type, graph.output.out_type, graph.input.size,
                    graph.output.size)

    _, x_test, _, y_test = mnist_split()
    x, n = x_test[:100], 100
    codes = from_float(torch.from_numpy(x.astype(np.float64)), graph.input.out_type)
    got = csim.run(codes.numpy().reshape(n, -1))
    want = execute(graph, codes.long())["output"].numpy().reshape(n, -1)
    assert got.shape == (n, 10)
    assert np.array_equal(got, want)

    qkeras = np.asarray(source.reference()(x), dtype=np.float64).reshape(n, -1)
    assert np.array_equal(got.argmax(1), qkeras.argmax(1))
    if source.reference_is_bit_exact(options):
        assert np.array_equal(to_float(torch.from_numpy(got), graph.output.out_type).numpy(),
                              qkeras)
    assert (got.argmax(1) == y_test[:n]).mean() > 0.9
