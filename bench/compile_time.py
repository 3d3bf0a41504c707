"""Compile time: each model from scratch to verified RTL with a built emulator (kiln.compile,
the Verilator emulator build, ``kiln verify``), against hls4ml's own convert + write +
compile of the same model (its C simulation), the anchor."""

from __future__ import annotations

import shutil
from typing import Any

from bench.common import Settings, best_time, error_row, log
from bench.models import BenchModel, hls4ml_build, inputs

FAMILY = "compile_time"


def measure(model: BenchModel, verify_samples: int, protocol: bool) -> dict[str, Any]:
    """One model's row. kiln.compile runs with ``force=True`` and the emulator cache of the
    artifact is removed first, so nothing is reused but Verilator's model-independent runtime
    objects (kiln.sim's object cache). ``protocol`` includes the cocotb bench in verify."""
    import kiln
    from kiln.sim import Emulator
    from kiln.verify import verify

    missing = model.missing()
    if missing:
        return {"model": model.name, "error": missing}
    try:
        compile_s, artifact = best_time(lambda: model.compile(force=True), 1)
        root = artifact.path
        shutil.rmtree(root / "sim", ignore_errors=True)
        emulator_s, _ = best_time(lambda: Emulator.build(root / "rtl", root / "sim"), 1)
        x = inputs(model, kiln.load(root), verify_samples)
        verify_s, report = best_time(lambda: verify(root, x=x, protocol=protocol), 1)
        _, hls4ml_s = hls4ml_build(model)
    except kiln.KilnError as exc:
        log.warning("%s: %s", model.name, exc)
        return error_row(exc, model=model.name)
    total = compile_s + emulator_s + verify_s
    return {
        "model": model.name, "kiln_compile_s": round(compile_s, 2),
        "emulator_build_s": round(emulator_s, 2), "verify_s": round(verify_s, 2),
        "kiln_total_s": round(total, 2), "verified": report.passed,
        "verify_samples": report.samples, "protocol_bench": protocol,
        "hls4ml_s": round(hls4ml_s, 2),
        "ratio_vs_hls4ml": round(total / hls4ml_s, 2),
        "latency_cycles": artifact.manifest.latency, "ii": artifact.manifest.ii,
    }


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    quick = settings.quick
    verify_samples = 200 if quick else 2000
    rows = []
    for model in models:
        log.info("compile time: %s", model.name)
        rows.append(measure(model, verify_samples, protocol=not quick))
    return {"rows": rows, "anchor": "hls4ml convert + write + compile (C simulation)",
            "verify_samples": verify_samples}
