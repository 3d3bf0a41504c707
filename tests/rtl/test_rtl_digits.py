"""The shipped digits MLP (QKeras 64-32-32-10) through kiln.frontend and kiln.rtl: lint-clean
and bit-exact with kiln.fixed on the whole test split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kiln.fixed import execute, from_float
from kiln.rtl import emit_rtl, write_rtl


@pytest.fixture(scope="module")
def digits_rtl(digits_model, tmp_path_factory):  # type: ignore[no-untyped-def]
    from kiln.compiler import BuildOptions
    from kiln.frontend import convert, lower

    work = tmp_path_factory.mktemp("digits")
    graph = lower(convert(digits_model, work / "hls", BuildOptions()), "digits_mlp",
                  BuildOptions())
    design = emit_rtl(graph)
    return graph, design, write_rtl(design, work / "rtl")


@pytest.mark.slow
@pytest.mark.verilator
def test_digits_lints_clean(digits_rtl, verilator) -> None:  # type: ignore[no-untyped-def]
    _, _, rtl_dir = digits_rtl
    assert "%Warning" not in verilator.lint(rtl_dir)


@pytest.mark.slow
@pytest.mark.icarus
def test_digits_bit_exact(digits_rtl, digits_data, icarus, bench) -> None:  # type: ignore[no-untyped-def]
    graph, design, rtl_dir = digits_rtl
    x_test = digits_data[1]
    samples = from_float(torch.as_tensor(x_test), graph.input.out_type)
    ref = execute(graph, samples)["output"].tolist()
    events = bench.run(icarus, Path(rtl_dir), design.meta, samples.numpy(), VALID_PCT=80,
                       READY_PCT=70)
    assert bench.outputs(events, design.meta) == ref
    # fc1 with relu1 built in 4, fc2 with relu2 4, logits 4 (two adder levels a cycle)
    assert design.meta.latency == 12
