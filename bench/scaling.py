"""Scaling: how compile time, emulator throughput and resources grow with layer width and
with bit width, on synthetic QKeras MLPs 16-W-5 (:func:`bench.models.synthetic_mlp`).

Every point is compiled and its emulator built from scratch (timed); synthesis
(``synth_xilinx``, cached by RTL) runs only up to :data:`SYNTH_MAX_WIDTH`, because yosys on
wider layers would take most of the 30-minute budget by itself.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from bench.common import Settings, best_time, error_row, error_text, log
from bench.hardware import XILINX_FAMILY, BudgetSpent, xilinx_resources
from bench.models import BenchModel, inputs, synthetic_mlp

FAMILY = "scaling"
WIDTHS = (16, 32, 64, 128, 256)
WIDTH_SWEEP_BITS = 8
BITS = (4, 8, 16)
BIT_SWEEP_WIDTH = 16
SYNTH_MAX_WIDTH = 32
SYNTH_BUDGET_S = 200.0  # new synthesis runs one sweep may start (cached ones always count)
QUICK_POINTS = (("width", 8, 4),)


def points(quick: bool) -> list[tuple[str, int, int]]:
    """(sweep, width, bits) of every point measured."""
    if quick:
        return list(QUICK_POINTS)
    return ([("width", w, WIDTH_SWEEP_BITS) for w in WIDTHS]
            + [("bits", BIT_SWEEP_WIDTH, b) for b in BITS])


def measure(model: BenchModel, width: int, samples: int, synth_timeout_s: float,
            fresh: bool, deadline: float) -> dict[str, Any]:
    """One point; ``fresh=False`` (quick mode) reuses the artifact and emulator, so its
    compile times are not from scratch."""
    import kiln
    from kiln.sim import Emulator

    try:
        compile_s, artifact = best_time(lambda: model.compile(force=fresh), 1)
        root = artifact.path
        if fresh:
            shutil.rmtree(root / "sim", ignore_errors=True)
        build_s, emulator = best_time(lambda: Emulator.build(root / "rtl", root / "sim"), 1)
        codes = kiln.load(root).input_codes(inputs(model, kiln.load(root), samples))
        emulator.run(codes[:8])
        run_s, _ = best_time(lambda: emulator.run(codes), 1)
        row: dict[str, Any] = {
            "compile_s": round(compile_s, 2), "emulator_build_s": round(build_s, 2),
            "compile_total_s": round(compile_s + build_s, 2),
            "emulator_samples_per_s": round(len(codes) / run_s, 1),
            "latency_cycles": artifact.manifest.latency, "fresh": fresh,
        }
        if width <= SYNTH_MAX_WIDTH:
            row["xilinx"], row["xilinx_cached"] = xilinx_resources(root, synth_timeout_s,
                                                                    deadline)
    except BudgetSpent as exc:
        row["xilinx_error"] = error_text(exc)
    except kiln.KilnError as exc:
        log.warning("%s: %s", model.name, exc)
        return error_row(exc)
    return row


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    quick = settings.quick
    """``models`` is unused: the sweep makes its own."""
    samples = 2_000 if quick else 10_000
    budget_s = settings.budget(SYNTH_BUDGET_S)
    deadline = time.monotonic() + budget_s
    measured: dict[str, dict[str, Any]] = {}  # a point in both sweeps is measured once
    rows = []
    for sweep, width, bits in points(quick):
        model = synthetic_mlp(width, bits)
        if model.name not in measured:
            log.info("scaling: %s", model.name)
            measured[model.name] = measure(model, width, samples, 300.0 if quick else 900.0,
                                           fresh=not quick, deadline=deadline)
        rows.append({"sweep": sweep, "model": model.name, "width": width, "bits": bits,
                     **measured[model.name]})
    return {"rows": rows, "xilinx_family": XILINX_FAMILY, "synth_max_width": SYNTH_MAX_WIDTH,
            "synth_budget_s": budget_s,
            "samples": samples}
