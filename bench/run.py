"""`make bench` / `make bench-quick`: run the benchmark families, write one result file per
family and render the benchmarks page.

    python -m bench.run                      # everything: bench/results/, docs/benchmarks.md
    python -m bench.run --quick              # smoke run (CI): build/bench/quick/
    python -m bench.run --only throughput --models digits_mlp
    python -m bench.run --render-only        # the page again from the result files
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import (
    compile_time,
    da4ml_compare,
    folding,
    hardware,
    lenet,
    runtime,
    scaling,
    throughput,
)
from bench.common import FULL, QUICK, Output, Settings, log, write_result
from bench.models import DIGITS, JET_QKERAS6, MODELS, synthetic_mlp
from bench.render import render

#: In this order: compile time first, so its builds are the fresh ones and later families
#: reuse the artifacts, emulators and hls4ml projects it made; hardware (synthesis, place and
#: route: the longest, and cached) last.
FAMILIES: dict[str, ModuleType] = {m.FAMILY: m for m in (compile_time, throughput, runtime,
                                                          scaling, hardware, folding,
                                                          da4ml_compare, lenet)}
RUNTIME_MODELS = (DIGITS, JET_QKERAS6)  # batch sweeps of every device: two models suffice
QUICK_MODEL = synthetic_mlp(8, 4)


def _models(family: str, quick: bool, names: list[str] | None) -> tuple[Any, ...]:
    if family == lenet.FAMILY:  # its own recipes, by name
        unknown = sorted(set(names or ()) - set(lenet.RECIPES))
        if unknown:
            raise SystemExit(f"unknown LeNet recipe(s) {unknown}; choose from "
                             f"{sorted(lenet.RECIPES)}")
        return tuple(names or lenet.RECIPES)
    if names:
        by_name = {m.name: m for m in (*MODELS, QUICK_MODEL)}
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            raise SystemExit(f"unknown model(s) {unknown}; choose from {sorted(by_name)}")
        return tuple(by_name[n] for n in names)
    if quick:
        return (QUICK_MODEL,)
    return RUNTIME_MODELS if family == runtime.FAMILY else MODELS


def _warm_imports() -> None:
    """Import the heavy frameworks before any timing, so no measurement pays for them."""
    import hls4ml  # noqa: F401
    import qkeras  # noqa: F401
    import tensorflow  # noqa: F401
    import torch  # noqa: F401

    import kiln.frontend  # noqa: F401


def _prepare_frameworks() -> None:
    """Before any timing: frameworks imported, and on one thread each."""
    _warm_imports()
    _one_thread_each()


def _one_thread_each() -> None:
    """Run torch and TensorFlow on one thread each, as the Verilator emulator and hls4ml's C
    simulation run: with two threads on two cores a framework's rate swung about 5x whenever
    another job held a core."""
    import tensorflow
    import torch

    torch.set_num_threads(1)
    try:
        tensorflow.config.threading.set_intra_op_parallelism_threads(1)
        tensorflow.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (e.g. under pytest)
        log.warning("TensorFlow was initialised before the bench: its thread count stays")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one tiny synthetic model, few samples, no place and "
                             "route; writes under build/bench/quick/")
    parser.add_argument("--only", nargs="+", choices=list(FAMILIES), metavar="FAMILY",
                        help=f"run only these families ({', '.join(FAMILIES)})")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="run only these models (scaling makes its own)")
    parser.add_argument("--render-only", action="store_true",
                        help="render the page from the existing result files")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write results/, img/ and benchmarks.md under DIR instead")
    parser.add_argument("--tool-budget-s", type=float, metavar="S",
                        help="seconds of new synthesis / place-and-route runs the hardware "
                             f"family (default {hardware.BUDGET_S:.0f}) and the scaling sweep "
                             f"(default {scaling.SYNTH_BUDGET_S:.0f}) may each start; cached "
                             "results are always used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    out = QUICK if args.quick else FULL
    if args.out is not None:
        out = Output(args.out / "results", args.out / "img", args.out / "benchmarks.md",
                     out.command)
    settings = Settings(args.quick, args.tool_budget_s)
    invocation = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    if not args.render_only:
        _prepare_frameworks()
        start = time.perf_counter()
        for family in args.only or FAMILIES:
            started = time.perf_counter()
            result = FAMILIES[family].run(_models(family, args.quick, args.models), settings)
            write_result(out, family, result.pop("rows"), started, args.quick, invocation,
                         **result)
        log.info("all families: %.0f s", time.perf_counter() - start)
    page = render(out)
    log.info("wrote %s", page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
