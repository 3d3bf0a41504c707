"""hls4ml's published jet tagger (QKeras 16-64-32-32-5, 6-bit, softmax) through `kiln compile`:
the Verilated RTL equal to the HLS C simulation and to kiln.fixed on 10,000 inputs drawn over
the whole input type (fixed<16,6>: the model's input has no quantizer), Icarus agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.mark.slow  # the Verilator build of the jet tagger alone takes minutes on 2 cores
@pytest.mark.verilator
@pytest.mark.icarus
def test_jet_mlp_bit_exact(jet_model_path: Path, tmp_path: Path) -> None:
    import kiln
    from kiln.verify import verify

    artifact = kiln.compile(str(jet_model_path), tmp_path / "jet_mlp")
    graph = artifact.graph
    assert [n.kind for n in graph.nodes] == ["input", "dense", "relu", "dense", "relu", "dense",
                                             "relu", "dense", "softmax"]
    assert str(graph.input.out_type) == "fixed<16,6,TRN,WRAP>"
    assert (artifact.manifest.latency, artifact.manifest.ii) == (24, 1)

    report = verify(tmp_path / "jet_mlp", samples=10_000, protocol=False)
    assert report.samples == 10_000
    assert report.rtl_vs_hls_mismatches == 0 and report.rtl_vs_cpu_mismatches == 0
    assert (report.icarus_samples, report.icarus_mismatches) == (200, 0)

    # The draw reaches many softmax outputs, not only saturated ones.
    from kiln.runtime import load
    from kiln.verify._verify import random_inputs

    runtime = load(tmp_path / "jet_mlp")
    codes = runtime.device("cpu").run(runtime.input_codes(random_inputs(runtime, 10_000))).outputs
    assert len(np.unique(codes)) > 100
