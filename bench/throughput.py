"""Verification throughput: samples per second through kiln's Verilator emulator, hls4ml's C
simulation (``ModelGraph.predict``, the anchor), kiln.fixed on the CPU and the framework
model, all on the same inputs in one run, with their agreement (integer codes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import Settings, best_time, error_row, log
from bench.models import BenchModel, framework_predictor, hls4ml_build, inputs

FAMILY = "throughput"
ANCHOR = "hls4ml C sim"
ENGINES = ("kiln emulator", ANCHOR, "kiln.fixed cpu", "framework")


def _engines(model: BenchModel, artifact: Any, codes: np.ndarray
             ) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each engine as a function from input codes to its raw outputs (codes, or the
    framework's floats)."""
    import torch

    from kiln.fixed import execute, from_float, to_float
    from kiln.sim import Emulator

    graph = artifact.graph
    emulator = Emulator.build(artifact.path / "rtl", artifact.path / "sim")
    hls_graph, _ = hls4ml_build(model)
    framework = framework_predictor(model, artifact)

    def values(c: np.ndarray) -> np.ndarray:  # the exact input values the codes stand for
        x = to_float(torch.from_numpy(c), graph.input.out_type).numpy()
        return x.reshape((len(c), *graph.input.shape))

    def hls4ml(c: np.ndarray) -> np.ndarray:
        y = np.asarray(hls_graph.predict(np.ascontiguousarray(values(c))), dtype=np.float64)
        return from_float(torch.from_numpy(y.reshape(len(c), -1)), graph.output.out_type).numpy()

    return {
        "kiln emulator": lambda c: emulator.run(c).codes,
        ANCHOR: hls4ml,
        "kiln.fixed cpu": lambda c: execute(graph, torch.from_numpy(c))["output"].numpy(),
        "framework": lambda c: np.asarray(framework(values(c).astype(np.float32))),
    }


def _framework_agreement(artifact: Any, codes: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The framework's outputs against the emulator's codes: mismatching samples where its
    quantizers define every type (else None), and the largest distance in output LSBs."""
    import torch

    from kiln.fixed import to_float

    out_type = artifact.graph.output.out_type
    rtl = to_float(torch.from_numpy(codes), out_type).numpy()
    y = y.reshape(rtl.shape)
    exact = artifact.manifest.reference_bit_exact
    return {"framework_mismatches": int(np.any(rtl != y, axis=1).sum()) if exact else None,
            "framework_max_lsb": round(float(np.abs(rtl - y).max() / out_type.lsb), 2)}


def measure(model: BenchModel, samples: int, repeats: int) -> dict[str, Any]:
    import kiln

    missing = model.missing()
    if missing:
        return {"model": model.name, "error": missing}
    try:
        artifact = model.compile()
        runtime = kiln.load(artifact.path)
        codes = runtime.input_codes(inputs(model, runtime, samples))
        engines = _engines(model, artifact, codes)
        rates, outputs = {}, {}
        for name, fn in engines.items():
            fn(codes[:8])  # warm up: load libraries, trace graphs
            seconds, outputs[name] = best_time(lambda fn=fn: fn(codes), repeats)
            rates[name] = len(codes) / seconds
            log.info("  %-16s %12.0f samples/s", name, rates[name])
    except kiln.KilnError as exc:
        log.warning("%s: %s", model.name, exc)
        return error_row(exc, model=model.name)
    rtl = outputs["kiln emulator"]
    return {
        "model": model.name, "samples": len(codes),
        "samples_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio_vs_anchor": {k: round(v / rates[ANCHOR], 3) for k, v in rates.items()},
        "cpu_vs_framework": round(rates["kiln.fixed cpu"] / rates["framework"], 3),
        "mismatches_vs_emulator": {
            name: int(np.any(outputs[name] != rtl, axis=1).sum())
            for name in (ANCHOR, "kiln.fixed cpu")},
        **_framework_agreement(artifact, rtl, outputs["framework"]),
    }


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    quick = settings.quick
    samples, repeats = (2_000, 1) if quick else (10_000, 2)
    rows = []
    for model in models:
        log.info("throughput: %s (%d samples)", model.name, samples)
        rows.append(measure(model, samples, repeats))
    return {"rows": rows, "anchor": ANCHOR, "engines": list(ENGINES), "repeats": repeats}
