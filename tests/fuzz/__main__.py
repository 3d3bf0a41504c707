"""Run the fuzz check on seeds from the command line (the long run, or one failing seed).

    python -m tests.fuzz 17                     # reproduce seed 17: its model, every level
    python -m tests.fuzz --models 200 --samples 5000 --hls-every 1 --jsonl fuzz.jsonl
    python -m tests.fuzz --summarize fuzz.jsonl  # the table docs/verification.md shows

Each line of ``--jsonl`` is one model's result (or its error); a summary goes to stdout.
Artifacts go to ``--out`` (default build/fuzz), one folder per seed, deleted after a pass
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.fuzz._check import check_model, compile_model
from tests.fuzz._generate import fuzz_model


def _one(seed: int, args: argparse.Namespace) -> dict[str, object]:
    model = fuzz_model(seed)
    print(model.summary, flush=True)
    start = time.perf_counter()
    try:
        art, compile_s = compile_model(model, args.out)
        hls = args.hls_every > 0 and (seed - args.start) % args.hls_every == 0
        result = check_model(model, art, args.samples, hls=hls, compile_s=compile_s)
    except Exception as exc:  # a fuzz run records every failure and goes on
        return {"seed": seed, "summary": model.summary, "passed": False,
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - start}
    row = {**result.to_dict(), "seconds": time.perf_counter() - start}
    if result.passed and not args.keep:
        shutil.rmtree(art.path, ignore_errors=True)
    return row


def summarize(rows: list[dict[str, Any]]) -> str:
    """One line per framework x topology, then every failure with its cause."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        model = fuzz_model(int(row["seed"]))
        groups[(model.framework, model.topology)].append(row)
    lines = ["| framework | topology | models | samples | cycles | RTL≠HLS | RTL≠kiln.fixed "
             "| RTL≠framework | errors |", "|---|---|---|---|---|---|---|---|---|"]
    for (framework, topology), part in sorted(groups.items()):
        ok = [r for r in part if "error" not in r]
        fw = [r for r in ok if r["framework_mismatches"] is not None]
        framework_text = (f"{sum(r['framework_mismatches'] > 0 for r in fw)} models"
                          if fw else "skipped (float)")
        lines.append(
            f"| {framework} | {topology} | {len(part)} | {sum(r['samples'] for r in ok):,} | "
            f"{sum(r['cycles'] for r in ok):,} | {sum(r['rtl_vs_hls'] > 0 for r in ok)} models | "
            f"{sum(r['rtl_vs_cpu'] > 0 for r in ok)} models | {framework_text} | "
            f"{len(part) - len(ok)} |")
    ok = [r for r in rows if "error" not in r]
    lines.append(f"\n{len(rows)} models, {sum(r['samples'] for r in ok):,} samples, "
                 f"{sum(r['cycles'] for r in ok):,} cycles under random valid/ready, "
                 f"{sum(r.get('seconds', 0) for r in rows) / 60:.0f} min")
    for row in rows:
        if row["passed"]:
            continue
        cause = row.get("error") or (
            f"RTL≠HLS {row['rtl_vs_hls']}, RTL≠cpu {row['rtl_vs_cpu']}, RTL≠framework "
            f"{row['framework_mismatches']} (max {row['framework_max_lsb']:.0f} LSB)")
        lines.append(f"- seed {row['seed']}: {cause}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seeds", nargs="*", type=int, help="seeds to run (else --models)")
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--start", type=int, default=0, help="first seed with --models")
    parser.add_argument("--samples", type=int, default=5000, help="random inputs per model")
    parser.add_argument("--hls-every", type=int, default=1,
                        help="run HLS C-sim on every Nth seed (0: never)")
    parser.add_argument("--out", type=Path, default=Path("build/fuzz"))
    parser.add_argument("--jsonl", type=Path, default=None)
    parser.add_argument("--deadline", type=float, default=0.0,
                        help="unix time after which no new model is started")
    parser.add_argument("--keep", action="store_true", help="keep passing artifacts")
    parser.add_argument("--summarize", type=Path, default=None,
                        help="print the summary of a --jsonl file and exit")
    args = parser.parse_args(argv)
    if args.summarize:
        print(summarize([json.loads(line) for line in args.summarize.read_text().splitlines()
                         if line.strip()]))
        return 0
    seeds = args.seeds or list(range(args.start, args.start + args.models))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    start = time.time()
    for seed in seeds:
        if args.deadline and time.time() > args.deadline:
            print(f"deadline reached; stopping before seed {seed}", flush=True)
            break
        row = _one(seed, args)
        rows.append(row)
        status = "PASS" if row["passed"] else "FAIL"
        detail = row.get("error") or (
            f"samples {row['samples']} cycles {row['cycles']} rtl!=hls {row['rtl_vs_hls']} "
            f"rtl!=cpu {row['rtl_vs_cpu']} rtl!=framework {row['framework_mismatches']} "
            f"(max {row['framework_max_lsb']:.1f} LSB)")
        print(f"  {status} seed {seed} {row['seconds']:.1f}s {detail}", flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps(row) + "\n")
    failed = [r["seed"] for r in rows if not r["passed"]]
    samples = sum(int(r.get("samples", 0)) for r in rows)  # type: ignore[call-overload]
    print(f"{len(rows)} models, {samples} samples, {len(failed)} failed {failed}, "
          f"{time.time() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
