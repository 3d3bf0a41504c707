"""Runtime: throughput and latency of each ``Runtime.predict`` device for batch sizes 1 to
4096, against the framework model's own predict (the ``reference`` device), the anchor."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import Settings, error_row, log
from bench.models import BenchModel, inputs

FAMILY = "runtime"
ANCHOR = "reference"
DEVICES = ("fpga-sim", "hls", "cpu", "cuda", "reference", "fpga")
BATCHES = (1, 4, 16, 64, 256, 1024, 4096)
QUICK_BATCHES = (1, 64, 1024)


def _latencies(call: Any, min_seconds: float, min_calls: int) -> list[float]:
    """Wall times of repeated calls until both ``min_calls`` and ``min_seconds`` are reached."""
    times: list[float] = []
    while len(times) < min_calls or sum(times) < min_seconds:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def measure(model: BenchModel, batches: tuple[int, ...], min_seconds: float
            ) -> list[dict[str, Any]]:
    """One row per device and batch size: median latency of a ``predict`` call and the
    throughput it gives; one error row for a device that is not available here."""
    import kiln
    from kiln.errors import DeviceError

    missing = model.missing()
    if missing:
        return [{"model": model.name, "error": missing}]
    try:
        runtime = kiln.load(model.compile().path)
        x = inputs(model, runtime, max(batches))
    except kiln.KilnError as exc:
        return [error_row(exc, model=model.name)]
    rows: list[dict[str, Any]] = []
    for device in DEVICES:
        try:
            runtime.predict(x[:2], device=device)  # warm up: build or load the device
        except DeviceError as exc:
            rows.append(error_row(exc, model=model.name, device=device))
            continue
        for batch in batches:
            times = _latencies(lambda b=batch, d=device: runtime.predict(x[:b], device=d),
                               min_seconds, 3)
            latency = statistics.median(times)
            rows.append({"model": model.name, "device": device, "batch": batch,
                         "calls": len(times), "latency_ms": round(latency * 1e3, 3),
                         "samples_per_s": round(batch / latency, 1)})
        log.info("  %-10s batch %5d: %10.0f samples/s", device, batches[-1],
                 rows[-1]["samples_per_s"])
    anchor = {r["batch"]: r["samples_per_s"] for r in rows if r.get("device") == ANCHOR}
    for row in rows:
        if "batch" in row and row["batch"] in anchor:
            row["ratio_vs_reference"] = round(row["samples_per_s"] / anchor[row["batch"]], 3)
    return rows


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    quick = settings.quick
    batches, min_seconds = (QUICK_BATCHES, 0.05) if quick else (BATCHES, 0.3)
    rows: list[dict[str, Any]] = []
    for model in models:
        log.info("runtime: %s", model.name)
        rows += measure(model, batches, min_seconds)
    return {"rows": rows, "anchor": ANCHOR, "batches": list(batches)}
