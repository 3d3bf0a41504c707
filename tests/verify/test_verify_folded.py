"""Folded models end to end: a QKeras MLP compiled with reuse factors > 1 is bit-exact at
every level (RTL == hls4ml C-sim with the Resource strategy == kiln.fixed == QKeras), and
the cocotb benches measure the stated latency and II."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kiln
from kiln.errors import KilnError
from kiln.verify import verify

TINY_MLP = Path(__file__).parents[1] / "flows" / "fixtures" / "tiny_mlp.h5"  # 16-8-4, 4-bit


def _check(art: Any, samples: int = 1000) -> None:
    report = verify(art.path, samples=samples)
    assert report.samples == samples
    assert report.rtl_vs_hls_mismatches == 0
    assert report.rtl_vs_cpu_mismatches == 0
    assert report.rtl_vs_reference_mismatches == 0  # QKeras defines every type
    assert report.icarus_mismatches == 0
    assert report.protocol_passed and report.protocol_mismatches == 0
    assert (report.latency_measured, report.ii_measured) == (art.manifest.latency,
                                                             float(art.manifest.ii))


@pytest.mark.verilator
@pytest.mark.icarus
@pytest.mark.parametrize("reuse", [
    4,
    {"fc1": 16, "fc2": 4},
    pytest.param(2, marks=pytest.mark.slow),
    pytest.param(8, marks=pytest.mark.slow),
    pytest.param(16, marks=pytest.mark.slow),
    pytest.param({"fc1": 128, "fc2": 32}, marks=pytest.mark.slow),  # R = n_in * n_out
])
def test_folded_mlp_is_bit_exact_at_every_level(reuse: Any, tmp_path: Path) -> None:
    art = kiln.compile(TINY_MLP, tmp_path / "art", reuse_factor=reuse)
    factors = reuse if isinstance(reuse, dict) else {"fc1": reuse, "fc2": reuse}
    dense = {n.name: n.reuse_factor for n in art.graph.nodes if n.kind == "dense"}
    assert dense == factors
    assert art.manifest.ii == max(factors.values())
    assert art.manifest.options["reuse_factor"] == reuse
    _check(art)


def test_a_reuse_factor_that_does_not_fold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KilnError, match=r"Dense 'fc1' \(16 inputs, 8 outputs\): reuse factor 5 "
                                        r"does not fold it .* Valid choices near it: "
                                        r"1, 2, 4, 8, 16, 32"):
        kiln.compile(TINY_MLP, tmp_path / "art", reuse_factor={"fc1": 5})


DIGITS_CNN = Path(__file__).parents[2] / "models" / "digits_cnn.h5"  # conv-pool-conv-dense
DIGITS_CNN_SEP = Path(__file__).parents[2] / "models" / "digits_cnn_sep.h5"


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
def test_folded_cnn_is_bit_exact_at_every_level(tmp_path: Path) -> None:
    reuse = {"conv1": 3, "conv2": 8, "logits": 8}
    art = kiln.compile(DIGITS_CNN, tmp_path / "art", io_type="io_stream", reuse_factor=reuse)
    assert {n.name: n.reuse_factor for n in art.graph.nodes
            if n.kind in ("conv", "dense")} == reuse
    report = verify(art.path, samples=500)
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    assert report.protocol_passed and report.protocol_mismatches == 0
    assert report.ii_measured >= art.manifest.ii  # the stated II is the ideal in io_stream


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.icarus
@pytest.mark.parametrize("reuse", [{"dw2": 3, "pw2": 4}, {"conv1": 9, "dw2": 18}])
def test_a_folded_separable_cnn_is_bit_exact_at_every_level(reuse: dict[str, int],
                                                              tmp_path: Path) -> None:
    """The depthwise conv folds over its taps (dw2: 3x3 taps of 8 channels; by 18, each
    multiplier works on two channels); hls4ml's depthwise Resource kernel is the reference."""
    art = kiln.compile(DIGITS_CNN_SEP, tmp_path / "art", io_type="io_stream",
                       reuse_factor=reuse)
    assert {n.name: n.reuse_factor for n in art.graph.nodes if n.name in reuse} == reuse
    report = verify(art.path, samples=300)
    assert (report.rtl_vs_hls_mismatches, report.rtl_vs_cpu_mismatches,
            report.rtl_vs_reference_mismatches, report.icarus_mismatches) == (0, 0, 0, 0)
    assert report.protocol_passed and report.protocol_mismatches == 0
    assert report.ii_measured >= art.manifest.ii


def test_a_depthwise_reuse_factor_that_does_not_fold_its_taps_is_refused(
        tmp_path: Path) -> None:
    # dw2: 9 taps x 8 channels; 4 divides 72 (hls4ml would take it) but neither divides the
    # 9 taps nor is a multiple of them
    with pytest.raises(KilnError, match=r"'dw2' \(9 inputs, 8 outputs\): reuse factor 4 .*"
                                        r"Valid choices near it: .*3"):
        kiln.compile(DIGITS_CNN_SEP, tmp_path / "art", io_type="io_stream",
                     reuse_factor={"dw2": 4})


BREVITAS_MLP = Path(__file__).parents[2] / "models" / "digits_mlp_brevitas.onnx"


@pytest.mark.verilator
@pytest.mark.icarus
def test_a_folded_qonnx_model_is_bit_exact_at_every_level(tmp_path: Path) -> None:
    """hls4ml names a QONNX MatMul's layer Dense_MatMul_0: the reuse factors use those names
    and reach both kiln's IR and hls4ml's configuration (its Resource strategy at R)."""
    reuse = {"Dense_MatMul_0": 4, "Dense_MatMul_1": 8}
    art = kiln.compile(BREVITAS_MLP, tmp_path / "art", input_shape=(64,), reuse_factor=reuse)
    assert {n.name: n.reuse_factor for n in art.graph.nodes if n.kind == "dense"} == {
        **reuse, "Dense_MatMul_2": 1}
    params = (art.path / "hls" / "firmware" / "parameters.h").read_text()
    assert "reuse_factor = 4;" in params and "reuse_factor = 8;" in params
    _check(art, samples=500)
