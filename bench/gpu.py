"""The kiln.fixed device section of the benchmarks page: scripts/gpu_check.py's result files
(``<results>/gpu_check/cpu.json``, measured here, and ``cuda.json``, measured on a GPU
machine and committed from there), shown side by side. Nothing here measures: a device
without a result file says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]

DEVICES = ("cpu", "cuda")
NO_GPU = "not measured: no GPU lent to the session that ran the bench"
NO_CPU = ("not measured: run `python scripts/gpu_check.py prepare` and `python "
          "scripts/gpu_check.py run --device cpu --threads 1 --out "
          "bench/results/gpu_check/cpu.json`")
#: One H200's HBM3e bandwidth and FP64 tensor-core rate by NVIDIA's datasheet, and PCIe 5.0
#: x16's nominal rate each way (none measured).
H200_BYTES_PER_S = 4.8e12
H200_FP64_FLOPS = 67e12
PCIE5_X16_BYTES_PER_S = 64e9
TARGET = 1e8  # samples/s on one H200 for the jet MLP (issue 18)
BOUND_MODEL = "jet_mlp"


def read(results: Path) -> dict[str, Row]:
    """The gpu_check result file of each device that has one, by device."""
    folder = results / "gpu_check"
    return {d: json.loads((folder / f"{d}.json").read_text()) for d in DEVICES
            if (folder / f"{d}.json").is_file()}


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _cell(r: Row | None) -> str:
    if r is None:
        return "-"
    if "skipped" in r or "error" in r:
        return r.get("skipped") or r["error"]
    mark = "" if r.get("equal", True) else " (CODES DIFFER)"
    ms = r["latency_ms"]
    latency = f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"
    return f"{r['samples_per_s']:,.0f} / {latency} ms{mark}"


def _where(device: str, result: Row | None) -> str:
    if result is None:
        return f"- **{device}**: {NO_GPU if device == 'cuda' else NO_CPU}."
    m, k = result["machine"], result["kiln"]
    hardware = (f"{m['gpu']['name']} ({m['gpu']['memory_gib']} GiB, CUDA {m['gpu']['cuda']})"
                if m.get("gpu") else f"CPU {m['cpu']}, {m['torch_threads']} torch thread(s)")
    changed = " with uncommitted changes in sw/" if k.get("sw_changed") else ""
    commit = f"kiln {k['commit'][:10]}{changed}" if k.get("commit") else "kiln commit unknown"
    load = (f"; load average {m['load_average_1m']} when it started"
            if "load_average_1m" in m else "")
    return (f"- **{device}**: measured {result['date']} on {hardware}, torch {m['torch']}, "
            f"Python {m['python']}, {commit}, by `{result['command']}`{load}.")


def _check_cell(device: str, result: Row | None, model: str) -> str:
    if result is None:
        return NO_GPU if device == "cuda" else "not measured"
    row = next((m for m in result["models"] if m["model"] == model), None)
    if row is None:
        return "not run"
    c = row["check"]
    how = ("SHA-256 of every code" if "sha256_equal" in c
           else f"{c['sample_rows']} sample rows")
    verdict = "0 mismatches" if c["equal"] else "MISMATCH"
    if "mismatches_vs_cpu_here" in c:
        verdict += f" ({c['mismatches_vs_cpu_here']} rows differ from the CPU there)"
    return f"{verdict} on {c['samples']:,} samples ({how})"


def _bound(results: dict[str, Row]) -> str:
    counted = [m for r in results.values() for m in r["models"] if m["model"] == BOUND_MODEL]
    if not counted:
        return ""
    b = counted[0]["bytes"]
    io, eager = b["io_bytes_per_sample_int64"], b["eager_bytes_per_sample"]
    flops = 2 * (16 * 64 + 64 * 32 + 32 * 32 + 32 * 5)
    return "\n\n".join([
        "### Bound for the jet MLP on one H200: a calculation, not a measurement",
        f"Target: **{TARGET:,.0f} samples/s** of kiln.fixed on the jet MLP (16-64-32-32-5) on "
        "one H200 — not measured: no GPU has run this yet"
        + (" (see the cuda rows above)." if "cuda" in results else "."),
        f"Memory traffic per sample: at least the input and output codes, "
        f"{io} B (16 inputs + 5 outputs at 8 bytes, int64 or float64 alike), if every cast "
        "and product were fused into one pass; kiln.fixed run op by op (`eager`) moves "
        f"{eager:,} B per sample ({b['ops']} operations, each reading its operands and "
        f"writing its result, counted by `scripts/gpu_check.py` at batch {b['batch']}). "
        f"At the H200's {H200_BYTES_PER_S / 1e12:.1f} TB/s HBM3e (NVIDIA's datasheet) that "
        f"bounds kiln.fixed at **{H200_BYTES_PER_S / eager:.2e} samples/s eager** and "
        f"**{H200_BYTES_PER_S / io:.2e} samples/s fully fused**; the four float64 matrix "
        f"products are {flops:,} FLOP per sample, {H200_FP64_FLOPS / flops:.1e} samples/s "
        f"at the datasheet's {H200_FP64_FLOPS / 1e12:.0f} TFLOP/s FP64. So the target needs "
        "eager execution at about "
        f"{100 * TARGET / (H200_BYTES_PER_S / eager):.0f}% of peak bandwidth, or fusion "
        "(`accel=\"compile\"`). `Runtime.predict` also quantizes the inputs on the host "
        f"(the CPU rows' work) and copies {io - 40} B of int64 codes in and 40 B out per "
        f"sample over PCIe: {PCIE5_X16_BYTES_PER_S / (io - 40):.1e} samples/s at PCIe 5.0 "
        f"x16's nominal {PCIE5_X16_BYTES_PER_S / 1e9:.0f} GB/s each way, whatever the GPU "
        "does.",
    ])


def section(results_dir: Path) -> str:
    """The page section from ``results_dir/gpu_check/*.json``."""
    results = read(results_dir)
    models = list(dict.fromkeys(m["model"] for r in results.values() for m in r["models"]))
    batches = sorted({row["batch"] for r in results.values() for m in r["models"]
                      for row in m["predict"]})
    parts = [
        "## 6. kiln.fixed on CUDA and CPU",
        "`scripts/gpu_check.py`: every shipped model's artifact runs 1,000,000 seeded inputs "
        "through `Runtime.predict(x, device=..., raw=True)`; the codes are compared by "
        "integer equality with codes computed on the CPU where the check was prepared (a "
        "SHA-256 of all of them plus 2,048 rows), then each batch size is timed: "
        "`Runtime.predict` (floats in, codes out: quantization on the host and transfers "
        "included) and kiln.fixed alone on codes already on the device (`Program.run`, "
        "each way of running: `eager`, CUDA `graphs`, `compile`, `compile+graphs`; every "
        "output compared with the predicted codes). Cells: samples/s / median latency per "
        "call. Each device's rows come from its own result file, measured where it says. "
        "To add the cuda rows: `python scripts/gpu_check.py prepare` here (artifacts and "
        "expected codes into build/gpu_check, 2 MB a model), carry build/gpu_check to the GPU "
        "machine, run `PYTHONPATH=sw python scripts/gpu_check.py run --out cuda.json` there "
        "(its own Python and CUDA torch; no TensorFlow, hls4ml or Verilator needed), commit "
        "that file as bench/results/gpu_check/cuda.json and `python -m bench.run "
        "--render-only`.",
        "\n".join(_where(d, results.get(d)) for d in DEVICES),
    ]
    if models:
        parts.append(_table(["model", *DEVICES], [[m, *[_check_cell(d, results.get(d), m)
                                                       for d in DEVICES]] for m in models]))
        head = ["model", "device", *[f"{b:,}" for b in batches]]
        predict, alone = [], []
        for m in models:
            for d in DEVICES:
                row = next((x for x in results.get(d, {"models": []})["models"]
                            if x["model"] == m), None)
                if row is None:
                    absent = NO_GPU if d == "cuda" else "not measured"
                    predict.append([m, d, absent, *["-"] * (len(batches) - 1)])
                    alone.append([m, d, absent, *["-"] * (len(batches) - 1)])
                    continue
                cells = {r["batch"]: r for r in row["predict"]}
                predict.append([m, d, *[_cell(cells.get(b)) for b in batches]])
                for accel in dict.fromkeys(r["accel"] for r in row["executor"]):
                    cells = {r["batch"]: r for r in row["executor"] if r["accel"] == accel}
                    alone.append([m, f"{d} {accel}", *[_cell(cells.get(b)) for b in batches]])
        parts += ["**Runtime.predict** (samples/s / latency per call)", _table(head, predict),
                  "**kiln.fixed alone** (codes on the device; samples/s / latency per call)",
                  _table(head, alone)]
    parts.append(_bound(results))
    return "\n\n".join(filter(None, parts))
