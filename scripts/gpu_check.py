"""kiln.fixed on a GPU, proven bit-exact against codes computed on the CPU, and timed.

Two steps, on two machines::

    # here (kiln's full environment): compile the shipped models if needed, copy their
    # artifacts, compute the expected codes on the CPU for N seeded inputs
    python scripts/gpu_check.py prepare --out build/gpu_check

    # on the GPU machine (its own Python with a CUDA torch; kiln as source, no installs,
    # no TensorFlow, hls4ml or Verilator): the same inputs through Runtime.predict(...,
    # device="cuda", raw=True), compared by integer equality, then timed per batch size
    PYTHONPATH=sw python scripts/gpu_check.py run --dir build/gpu_check --out cuda.json

``run --device cpu`` does the same on the CPU (the CPU rows of docs/benchmarks.md). Inputs
are not shipped: both sides make them from a seed with SplitMix64 (defined here, so every
numpy gives the same numbers). The expected codes travel as a SHA-256 of their int64 bytes
plus a sample of rows; where the hash differs, ``run`` counts the mismatches against the
CPU on its own machine as well. The results file holds the date, the machine (GPU name,
torch version) and the kiln commit; `make bench` shows it in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
try:
    import kiln
except ImportError:  # run from a source tree that is not installed (the GPU machine)
    sys.path.insert(0, str(REPO / "sw"))
    import kiln

#: The shipped models the check covers (models/shipped.py), a folded one once it lands.
MODELS = ("digits_mlp", "jet_mlp", "digits_cnn", "digits_cnn_sep", "jet_conv1d")
SAMPLES = 1_000_000
BATCHES = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
SAMPLE_ROWS = 2048  # expected rows shipped beside the hash
CHUNK = 100_000  # samples per predict call while computing the expected codes
CUDA_ACCELS = ("eager", "graphs", "compile", "compile+graphs")
MANIFEST = "gpu_check.json"


# --- inputs: the same on every machine -------------------------------------------------


def splitmix64(seed: int, start: int, count: int) -> np.ndarray:
    """Outputs ``start .. start + count`` of SplitMix64 started at state ``seed`` (uint64;
    output 0 for seed 0 is 0xE220A8397B1DCDAF, as in the reference implementation)."""
    with np.errstate(over="ignore"):
        steps = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + steps * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def inputs(runtime: Any, seed: int, start: int, count: int) -> np.ndarray:
    """Samples ``start .. start + count`` for ``runtime``'s model: every code of the input
    type equally likely, plus 0, 1/4, 1/2 or 3/4 of an LSB (so the input's rounding and
    overflow modes are exercised), exact in float64, in the framework's layout."""
    t = runtime.graph.input.out_type
    size = runtime.graph.input.size
    words = splitmix64(seed, start * size, count * size)
    span = np.uint64(t.max_code - t.min_code + 1)
    codes = (words % span).astype(np.int64) + t.min_code
    quarters = (words >> np.uint64(62)).astype(np.float64) / 4
    x = np.ldexp(codes.astype(np.float64) + quarters, -t.frac)
    x = x.reshape(count, *runtime.graph.input.shape)
    if runtime.artifact.manifest.input_layout == "channels_first" and x.ndim > 2:
        x = np.moveaxis(x, -1, 1)
    return x


def _seed(name: str, seed: int) -> int:
    return seed + int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(0, n, size):
        yield first, min(size, n - first)


def _sample_rows(n: int) -> np.ndarray:
    """The first rows and rows spread over the whole set."""
    head = np.arange(min(n, SAMPLE_ROWS // 2))
    spread = np.linspace(0, n - 1, num=min(n, SAMPLE_ROWS // 2)).astype(np.int64)
    return np.unique(np.concatenate([head, spread]))


def _digest(codes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(codes, dtype="<i8").tobytes()).hexdigest()


# --- machine and commit ---------------------------------------------------------------------


def _commit() -> dict[str, Any]:
    """The kiln commit of this source tree and whether it has changes, where git can say."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sw"], cwd=REPO,
                               capture_output=True, text=True, check=True,
                               timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "sw_changed": bool(dirty)}


def _machine(device: str) -> dict[str, Any]:
    gpu = None
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        gpu = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
               "multiprocessors": props.multi_processor_count,
               "cuda": torch.version.cuda}
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "os": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "load_average_1m": round(os.getloadavg()[0], 2),
            "gpu": gpu}


# --- prepare (here) ---------------------------------------------------------------------------


def _artifact_dir(name: str) -> Path:
    """build/<name>, compiled as `make sim` compiles it where it is missing or no longer
    loads (an artifact of an older kiln)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from models.shipped import SHIPPED

    model = next(m for m in SHIPPED if m.name == name)
    try:
        kiln.load(model.build_dir)
    except kiln.KilnError as exc:
        print(f"{name}: compiling {model.path} into {model.build_dir} ({exc})"[:300],
              flush=True)
        kiln.compile(str(model.path), model.build_dir, io_type=model.io_type,
                     precision=model.precision, force=True)
    return model.build_dir


def _copy_artifact(src: Path, dst: Path) -> None:
    """The manifest and every file it lists (what kiln.load checks), nothing else."""
    if dst.exists():
        shutil.rmtree(dst)
    manifest = json.loads((src / "kiln.json").read_text())
    for rel in [*manifest["files"], "kiln.json"]:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)


def _prepare_model(out: Path, name: str, samples: int, seed: int) -> dict[str, Any]:
    """``name``'s artifact copied under ``out``, its expected codes hashed and sampled."""
    start = time.perf_counter()
    _copy_artifact(_artifact_dir(name), out / "artifacts" / name)
    runtime = kiln.load(out / "artifacts" / name)
    model_seed = _seed(name, seed)
    rows = _sample_rows(samples)
    digest = hashlib.sha256()
    sample = np.zeros((len(rows), runtime.graph.output.size), dtype=np.int64)
    for first, count in _chunks(samples, CHUNK):
        codes = runtime.predict(inputs(runtime, model_seed, first, count), device="cpu",
                                raw=True).reshape(count, -1).astype(np.int64)
        digest.update(np.ascontiguousarray(codes, dtype="<i8").tobytes())
        here = (rows >= first) & (rows < first + count)
        sample[here] = codes[rows[here] - first]
    (out / "expected").mkdir(exist_ok=True)
    np.savez(out / "expected" / f"{name}.npz", rows=rows, codes=sample)
    print(f"{name}: {samples} samples, expected codes {digest.hexdigest()[:16]}... "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    return {"model": name, "seed": model_seed, "samples": samples,
            "input_shape": list(runtime.graph.input.shape),
            "output_size": runtime.graph.output.size, "sha256": digest.hexdigest(),
            "sample_rows": len(rows), "kiln": _commit()}


def prepare(out: Path, models: list[str], samples: int, seed: int) -> Path:
    """Artifacts, expected CPU codes (hash and sample) and the manifest under ``out``; the
    manifest is written after each model and keeps models prepared before."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    entries = json.loads(path.read_text())["models"] if path.is_file() else []
    for name in models:
        entries = [e for e in entries if e["model"] != name]
        entries.append(_prepare_model(out, name, samples, seed))
        manifest = {"prepared": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "kiln": _commit(), "machine": _machine("cpu"),
                    "models": sorted(entries, key=lambda e: MODELS.index(e["model"]))}
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


# --- run (the GPU machine, or here with --device cpu) ----------------------------------------


class Budget:
    """Seconds left for the optional measurements; the equality checks always run."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def spent(self) -> bool:
        return time.perf_counter() > self.end


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(call: Callable[[], Any], device: str, min_seconds: float, min_calls: int
           ) -> list[float]:
    times: list[float] = []
    while len(times) < min_calls or sum(times) < min_seconds:
        _sync(device)
        start = time.perf_counter()
        call()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _row(batch: int, times: list[float]) -> dict[str, Any]:
    latency = statistics.median(times)
    return {"batch": batch, "calls": len(times), "latency_ms": round(latency * 1e3, 4),
            "samples_per_s": round(batch / latency, 1)}


def check(runtime: Any, entry: dict[str, Any], expected: dict[str, np.ndarray], device: str,
          samples: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """All ``samples`` inputs through ``Runtime.predict(device=..., raw=True)``, compared by
    integer equality with the expected codes: the whole set by SHA-256 where it is the
    prepared set, the sample rows one by one, and, where the hash differs, every row against
    ``device="cpu"`` on this machine."""
    x = inputs(runtime, entry["seed"], 0, samples)
    start = time.perf_counter()
    codes = runtime.predict(x, device=device, raw=True).reshape(samples, -1)
    seconds = time.perf_counter() - start
    rows = expected["rows"][expected["rows"] < samples]
    sample_mismatches = int(np.any(codes[rows] != expected["codes"][:len(rows)], axis=1).sum())
    result: dict[str, Any] = {
        "samples": samples, "seconds": round(seconds, 3),
        "samples_per_s": round(samples / seconds, 1), "sample_rows": len(rows),
        "sample_mismatches": sample_mismatches, "dtype": str(codes.dtype),
    }
    if samples == entry["samples"]:
        result["sha256_equal"] = _digest(codes) == entry["sha256"]
    if device != "cpu" and not result.get("sha256_equal", False):
        cpu = runtime.predict(x, device="cpu", raw=True).reshape(samples, -1)
        result["mismatches_vs_cpu_here"] = int(np.any(codes != cpu, axis=1).sum())
    result["equal"] = sample_mismatches == 0 and result.get("sha256_equal", True) and \
        result.get("mismatches_vs_cpu_here", 0) == 0
    return result, x, codes


def predict_sweep(runtime: Any, x: np.ndarray, device: str, batches: list[int],
                  budget: Budget) -> list[dict[str, Any]]:
    """``Runtime.predict`` latency and throughput per batch size (floats in, codes out:
    input quantization on the host, transfers and output conversion included)."""
    runtime.predict(x[:1], device=device, raw=True)
    rows = []
    for batch in batches:
        if budget.spent():
            rows.append({"batch": batch, "skipped": "time budget spent"})
            continue
        times = _timed(lambda b=batch: runtime.predict(x[:b], device=device, raw=True),
                       device, 0.3, 2)
        rows.append(_row(batch, times))
    return rows


def executor_sweep(runtime: Any, x: np.ndarray, codes: np.ndarray, device: str,
                   batches: list[int], accels: list[str], budget: Budget
                   ) -> list[dict[str, Any]]:
    """kiln.fixed alone on input codes already on ``device`` (``Program.run``), per way of
    running and batch size, largest batch first (so a budget spent on compiling leaves out
    the small batches); every output compared by integer equality with ``codes``."""
    from kiln.fixed import prepare as prepare_program

    program = prepare_program(runtime.graph, device)
    on_device = torch.from_numpy(runtime.input_codes(x[:max(batches)])).to(device)
    rows = []
    for accel in accels:
        for batch in sorted(batches, reverse=True):
            if budget.spent():
                rows.append({"accel": accel, "batch": batch, "skipped": "time budget spent"})
                continue
            try:
                start = time.perf_counter()
                out = program.run(on_device[:batch], accel)
                _sync(device)
                first_s = time.perf_counter() - start
                equal = bool(np.array_equal(out.cpu().numpy(), codes[:batch]))
                times = _timed(lambda b=batch, a=accel: program.run(on_device[:b], a),
                               device, 0.3, 3)
            except Exception as exc:  # a mode that fails here is a result, not a stop
                rows.append({"accel": accel, "batch": batch,
                             "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                continue
            rows.append({"accel": accel, **_row(batch, times), "equal": equal,
                         "first_call_s": round(first_s, 3)})
            print(f"    {accel:15s} batch {batch:8d}: {rows[-1]['samples_per_s']:14,.0f} "
                  f"samples/s, {rows[-1]['latency_ms']:9.3f} ms, equal {equal}", flush=True)
    return rows


def bytes_per_sample(runtime: Any, x: np.ndarray, batch: int = 4096) -> dict[str, Any]:
    """What eager kiln.fixed moves per sample, counted op by op on the CPU (each op reads its
    tensor operands and writes its result; views move nothing; a broadcast operand counts
    once): a calculation of memory traffic, not a measurement on any device."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    from kiln.fixed import prepare as prepare_program

    def size(t: torch.Tensor) -> int:
        distinct = 1
        for n, stride in zip(t.shape, t.stride(), strict=True):
            distinct *= n if stride else 1
        return distinct * t.element_size()

    class Count(TorchDispatchMode):
        moved, ops = 0, 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                Count.ops += 1
                Count.moved += sum(size(t) for t in tree_leaves((args, kwargs or {}, out))
                                   if isinstance(t, torch.Tensor))
            return out

    program = prepare_program(runtime.graph, "cpu")
    codes = torch.from_numpy(runtime.input_codes(x[:batch]))
    with Count():
        program.run(codes)
    io = (runtime.graph.input.size + runtime.graph.output.size) * 8
    return {"batch": batch, "ops": Count.ops, "eager_bytes_per_sample": round(Count.moved / batch),
            "io_bytes_per_sample_int64": io}


def run(directory: Path, out: Path, device: str, samples: int | None, models: list[str],
        accels: list[str], compile_models: list[str], budget_s: float) -> dict[str, Any]:
    """Check and time every prepared model on ``device`` (the ``compile`` ways only for
    ``compile_models``: each compiles for minutes); writes ``out`` after each model."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device cuda: torch.cuda.is_available() is False on this machine")
    manifest = json.loads((directory / MANIFEST).read_text())
    entries = [e for e in manifest["models"] if not models or e["model"] in models]
    command = "python scripts/gpu_check.py " + " ".join(sys.argv[1:])
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "device": device,
        "command": command, "kiln": _commit() or manifest["kiln"],
        "kiln_prepared": manifest["kiln"], "prepared": manifest["prepared"],
        "machine": _machine(device), "accel_env": os.environ.get("KILN_FIXED_ACCEL"),
        "budget_s_per_model": round(budget_s / max(len(entries), 1), 1), "models": []}
    for entry in entries:
        budget = Budget(budget_s / len(entries))
        name, n = entry["model"], min(samples or entry["samples"], entry["samples"])
        print(f"{name}: {n} samples on {device}", flush=True)
        runtime = kiln.load(directory / "artifacts" / name)
        expected = dict(np.load(directory / "expected" / f"{name}.npz"))
        equality, x, codes = check(runtime, entry, expected, device, n)
        print(f"  equal: {equality['equal']} {equality}", flush=True)
        batches = [b for b in BATCHES if b <= n]
        mine = [a for a in accels if not a.startswith("compile") or name in compile_models]
        row = {"model": name, "check": equality,
               "predict": predict_sweep(runtime, x, device, batches, budget),
               "bytes": bytes_per_sample(runtime, x, min(4096, n))}
        row["executor"] = executor_sweep(runtime, x, codes, device, batches, mine, budget)
        result["models"].append(row)
        out.write_text(json.dumps(result, indent=2) + "\n")
    result["all_equal"] = all(m["check"]["equal"] for m in result["models"]) and all(
        r.get("equal", True) for m in result["models"] for r in m["executor"])
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="artifacts and expected CPU codes (here)")
    p.add_argument("--out", type=Path, default=REPO / "build" / "gpu_check")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--samples", type=int, default=SAMPLES)
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="check and time on a device")
    r.add_argument("--dir", type=Path, default=REPO / "build" / "gpu_check")
    r.add_argument("--out", type=Path, required=True, help="results JSON to write")
    r.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    r.add_argument("--samples", type=int, help="check only the first N of the prepared "
                   "inputs (then the sample rows are compared, not the hash)")
    r.add_argument("--models", nargs="+", default=[], help="only these prepared models")
    r.add_argument("--accel", nargs="+", choices=CUDA_ACCELS,
                   help="ways to run kiln.fixed alone (default: every one on cuda, eager "
                        "on cpu)")
    r.add_argument("--compile-models", nargs="*", default=["jet_mlp"], metavar="MODEL",
                   help="models that also run the compile ways (default: jet_mlp; each "
                        "compiles for a minute or more)")
    r.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own "
                   "choice); the CPU rows of docs/benchmarks.md use 1, as every bench does")
    r.add_argument("--budget-s", type=float, default=360.0,
                   help="seconds for the timing sweeps, shared equally by the models (what "
                        "does not fit says so); the equality checks always run")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        print(prepare(args.out, args.models, args.samples, args.seed))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    accels = args.accel or (list(CUDA_ACCELS) if args.device == "cuda" else ["eager"])
    result = run(args.dir, args.out, args.device, args.samples, args.models, accels,
                 args.compile_models, args.budget_s)
    print(f"wrote {args.out}: all equal: {result['all_equal']}")
    return 0 if result["all_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
