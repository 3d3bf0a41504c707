"""Designs fitted to a part: kiln.rtl's resource estimate, the guard that refuses a design
far beyond its part before any Verilog is written, and reuse_factor="auto"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln.compiler import (
    HARD_BLOCK_MARGIN,
    DesignTooLargeError,
    check_fits,
    choose_fit,
    with_reuse_factors,
)
from kiln.errors import KilnError
from kiln.flows import part_capacity
from kiln.ir import Dense, FixedType, Graph, Input, Relu, frozen_codes, with_lut_multipliers
from kiln.rtl import estimate

ECP5_85F = "LFE5U-85F-6BG381C"
TINY_MLP = Path(__file__).parents[1] / "flows" / "fixtures" / "tiny_mlp.h5"  # 16-8-4, 4-bit


def mlp(*sizes: int, seed: int = 0) -> Graph:
    """A 6-bit MLP with random weights: Input -> (Dense -> Relu)* -> Dense."""
    rng = np.random.default_rng(seed)
    t6, acc = FixedType(6, 1), FixedType(20, 8)
    nodes: list = [Input("x", "", (sizes[0],), FixedType(6, 2))]
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        nodes.append(Dense(f"fc{k}", nodes[-1].name, (n_out,), FixedType(12, 6),
                           weight=frozen_codes(rng.integers(-32, 32, (n_in, n_out))),
                           bias=frozen_codes(rng.integers(-32, 32, n_out)), weight_type=t6,
                           bias_type=t6, accum_type=acc))
        if k < len(sizes) - 2:
            nodes.append(Relu(f"relu{k}", f"fc{k}", (n_out,), FixedType(6, 2, False)))
    return Graph("mlp", tuple(nodes))


def test_folding_cuts_the_estimate() -> None:
    # The yardstick: a 32-32-10 6-bit MLP at R = 8 needs at most half the LUTs of R = 1.
    flat = estimate(mlp(32, 32, 10))["total"]
    folded = estimate(with_reuse_factors(mlp(32, 32, 10), {"fc0": 8, "fc1": 8}))["total"]
    assert folded.lut6 <= flat.lut6 / 2 and folded.lut4 <= flat.lut4 / 2
    assert (flat.dsp, folded.dsp) == (0, 32 * 32 // 8 + 32 * 10 // 8)


def test_auto_takes_the_fastest_design_that_fits() -> None:
    graph = mlp(16, 64, 32, 32, 5)
    fit = choose_fit(graph, ECP5_85F, 0.7)
    factors = fit.reuse_factors
    cap = part_capacity(ECP5_85F)
    fitted = estimate(fit.apply(graph))["total"]
    assert fitted.dsp <= HARD_BLOCK_MARGIN * cap.dsp and fitted.lut4 <= 0.7 * cap.lut
    assert fitted.bram <= HARD_BLOCK_MARGIN * cap.bram18 and fitted.ff <= 0.7 * cap.ff
    ii = max(factors.values())
    faster = choose_fit(graph, "xcvu9p", 0.7).reuse_factors
    assert max(faster.values()) < ii  # a bigger part: a faster design
    # one step faster than the choice does not fit the ECP5, multipliers in logic or not
    smaller = [r for r in (1, 2, 4, 8, 16, 32) if r < ii]
    for interval in smaller[-1:]:
        tighter = with_reuse_factors(graph, {n: min(r, interval) for n, r in factors.items()})
        for lut in ([], [n.name for n in graph.nodes if isinstance(n, Dense)]):
            usage = estimate(with_lut_multipliers(tighter, lut))["total"]
            assert (usage.dsp > HARD_BLOCK_MARGIN * cap.dsp or usage.lut4 > 0.7 * cap.lut
                    or usage.ff > 0.7 * cap.ff)


def test_a_design_far_beyond_its_part_is_refused_with_factors_that_fit() -> None:
    big = mlp(256, 64, 10)  # fully unrolled: about 200k LUT6
    with pytest.raises(DesignTooLargeError, match=r"far beyond LFE5U-85F.*no Verilog was "
                                                  r"written.*reuse_factor=\{'fc0': \d+"):
        check_fits(big, ECP5_85F)
    check_fits(big, "xcvu9p")  # fits the big part
    with pytest.raises(KilnError, match="no resource data for part 'xc9x'"):
        check_fits(big, "xc9x")


def test_compile_auto_for_a_board_writes_the_choice(tmp_path: Path) -> None:
    art = kiln.compile(TINY_MLP, tmp_path / "art", reuse_factor="auto", board="ulx3s-45f")
    report = (art.path / "reports" / "fit.json").read_text()
    assert '"requested_reuse_factor": "auto"' in report and '"part": "LFE5U-45F' in report
    assert art.manifest.options["board"] == "ulx3s-45f"
    assert art.manifest.options["part"].startswith("LFE5U-45F")
    with pytest.raises(KilnError, match="board 'ulx3s-45f' has part .* but part="):
        kiln.compile(TINY_MLP, tmp_path / "b", board="ulx3s-45f", part="xc7z020clg400-1")


def test_the_mission_cnn_unrolled_is_refused_before_any_verilog(tmp_path: Path) -> None:
    """Conv2D 32 3x3 on 28x28x1, max pool 2, Dense 5408 -> 128, Dense 10: fully unrolled it
    was a 123 MB Verilog file whose emulator build ran past 10 GB."""
    from tensorflow import keras

    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling2D(2, name="pool"), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(128, activation="relu", name="fc1"), keras.layers.Dense(10, name="fc2"),
    ], name="mission_cnn")
    with pytest.raises(DesignTooLargeError, match=r"far beyond xcvu9p.*no Verilog was written"
                                                  r".*'conv': 1, 'fc1': 676, 'fc2': 640"):
        kiln.compile(model, tmp_path / "cnn", io_type="io_stream", precision="fixed<8,3>")
    assert not (tmp_path / "cnn").exists()
