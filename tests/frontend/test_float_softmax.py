"""A float PyTorch Linear -> Softmax at precision='fixed<16,6>' gave 0.2 for every class
(hls4ml addressed the exp table by the top bits of a wide input); kiln types the softmax's
x_max - x so each exp-table entry is one code: HLS == kiln.fixed and argmax agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from kiln import frontend, hls
from kiln.compiler import BuildOptions
from kiln.fixed import execute, from_float, to_float


def test_torch_softmax_after_linear_follows_the_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5), nn.Softmax(dim=1))
    options = BuildOptions(precision="fixed<16,6>", input_shape=(8,))
    model_graph = frontend.convert_torch(frontend.load_torch(model.eval(), (8,)), tmp_path,
                                         options)
    graph = frontend.lower(model_graph, "t", options)
    csim = hls.CSim(hls.write_and_compile(model_graph), graph.input.out_type,
                    graph.output.out_type, graph.input.size, graph.output.size)
    x = np.random.default_rng(0).normal(0, 1, (2000, 8))
    codes = from_float(torch.from_numpy(x), graph.input.out_type).numpy()
    out = execute(graph, torch.from_numpy(codes))["output"].numpy()
    assert np.array_equal(out, csim.run(codes))
    values = to_float(torch.from_numpy(out), graph.output.out_type).numpy()
    reference = model(torch.from_numpy(x).float()).detach().numpy()
    assert (values.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.95
