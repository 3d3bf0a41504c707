"""Folding: hardware cost, latency and II against the reuse factor R, for the 6-bit jet MLP
(io_parallel) and the digits CNN (io_stream); kiln's estimate beside yosys synth_xilinx;
bit-exactness against hls4ml's C simulation with the Resource strategy at every R."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from bench.common import Settings, error_row, error_text, log
from bench.hardware import BUDGET_S, QUICK_BUDGET_S, BudgetSpent, xilinx_resources
from bench.models import DIGITS_CNN, JET_QKERAS6, BenchModel, inputs

FAMILY = "folding"
#: The reuse factors swept. At R every foldable layer takes the largest factor it accepts of
#: at most R (hls4ml's rule: e.g. the jet MLP's 32 x 5 output layer folds by 32 or 160).
SWEEPS: tuple[tuple[BenchModel, tuple[int, ...]], ...] = (
    (JET_QKERAS6, (1, 2, 4, 8, 16, 32, 64)), (DIGITS_CNN, (1, 2, 4, 8)))
QUICK_REUSE = (1, 4)  # the quick run's synthetic 16-8-5 MLP
SAMPLES = 1000
QUICK_SAMPLES = 200


def _folded(model: BenchModel, unfolded: Any, reuse: int) -> BenchModel:
    """``model`` with every Dense and Conv layer at its largest valid factor of at most R
    (``unfolded``: the model's artifact at R = 1, for the layer shapes)."""
    from kiln.ir import valid_reuse_factors

    factors = {n.name: max(r for r in valid_reuse_factors(*n.fold_shape) if r <= reuse)
               for n in unfolded.graph.nodes if n.kind in ("dense", "conv")}
    return replace(model, name=f"{model.name}_r{reuse}",
                   options=tuple({**dict(model.options), "reuse_factor": factors}.items()))


def measure(model: BenchModel, unfolded: Any, reuse: int, timeout_s: float, deadline: float,
            samples: int) -> dict[str, Any]:
    """One design: latency, II, kiln's estimate, synth_xilinx counts, and RTL == HLS C-sim
    (Resource strategy) == kiln.fixed on ``samples`` inputs."""
    import kiln

    row: dict[str, Any] = {"model": model.name, "reuse_factor": reuse}
    try:
        art = _folded(model, unfolded, reuse).compile()
    except kiln.KilnError as exc:
        return error_row(exc, **row)
    from kiln.rtl import estimate

    row.update(latency_cycles=art.manifest.latency, ii=art.manifest.ii,
               reuse_factors={n.name: n.reuse_factor for n in art.graph.nodes
                              if n.kind in ("dense", "conv")},
               estimate=estimate(art.graph)["total"].to_dict())
    rt = kiln.load(art.path)
    x = inputs(model, rt, samples)
    codes = rt.input_codes(x)
    rtl = rt.device("fpga-sim").run(codes).outputs
    hls = rt.device("hls").run(codes).outputs
    cpu = rt.device("cpu").run(codes).outputs
    row["samples"] = len(codes)
    row["rtl_vs_hls_mismatches"] = int(np.any(rtl != hls, axis=1).sum())
    row["rtl_vs_cpu_mismatches"] = int(np.any(rtl != cpu, axis=1).sum())
    try:
        row["xilinx"], row["xilinx_cached"] = xilinx_resources(art.path, timeout_s, deadline)
    except (kiln.KilnError, BudgetSpent) as exc:
        row["xilinx_error"] = error_text(exc)
    return row


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    """Sweep the jet MLP and the digits CNN (quick: ``models``, the synthetic MLP)."""
    quick = settings.quick
    sweeps = tuple((m, QUICK_REUSE) for m in models) if quick else SWEEPS
    samples = QUICK_SAMPLES if quick else SAMPLES
    timeout_s = 120.0 if quick else 1800.0
    deadline = time.monotonic() + settings.budget(QUICK_BUDGET_S if quick else BUDGET_S)
    rows = []
    for model, factors in sweeps:
        unfolded = model.compile()
        # most folded first: the smallest designs, so the synthesis budget buys the most
        for reuse in sorted(factors, reverse=True):
            log.info("folding: %s at R = %d", model.name, reuse)
            rows.append(measure(model, unfolded, reuse, timeout_s, deadline, samples))
    rows.sort(key=lambda r: (r["model"], r["reuse_factor"]))
    return {"rows": rows, "samples": samples}
