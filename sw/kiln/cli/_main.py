"""The `kiln` command: thin argparse wrappers over the library calls."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.compiler import (
    DEFAULT_CLOCK_PERIOD,
    DEFAULT_PART,
    IO_TYPES,
    BuildOptions,
    compile_artifact,
)
from kiln.errors import KilnError

#: The devices ``predict --device`` and ``compare --devices`` take (kiln.runtime's, and auto).
DEVICE_NAMES = ("auto", "fpga", "fpga-sim", "cuda", "cpu", "hls", "reference")


def _device_list(text: str) -> list[str]:
    """``--devices``: comma-separated names from :data:`DEVICE_NAMES` (auto excluded)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DEVICE_NAMES[1:]]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown device(s) {unknown or text!r}; choose from {', '.join(DEVICE_NAMES[1:])}"
        )
    return names


def _load_array(path: str, what: str) -> NDArray[Any]:
    if not Path(path).is_file():
        raise KilnError(f"{what} file {path} does not exist (expected a .npy array)")
    try:
        array: NDArray[Any] = np.load(path)
        return array
    except Exception as exc:
        raise KilnError(f"Cannot read {what} file {path} as .npy: {exc}") from exc


def _input_shape(text: str | None) -> tuple[int, ...] | None:
    """``64`` or ``1,8,8`` (batch excluded) as a tuple."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise KilnError(f"--input-shape {text!r}: give the sizes without the batch, e.g. 64 "
                        "or 1,8,8") from None


def _reuse_factor(text: str | None) -> int | dict[str, int] | str | None:
    """``--reuse-factor``: ``R`` for every layer, ``LAYER=R,LAYER=R`` per layer, or auto."""
    if text is None or text == "auto":
        return text
    try:
        if "=" not in text:
            return int(text)
        pairs = (part.split("=") for part in text.split(",") if part.strip())
        return {name.strip(): int(value) for name, value in pairs}
    except ValueError:
        raise KilnError(f"--reuse-factor {text!r}: give one integer (8), layer=factor pairs "
                        "(fc1=16,fc2=4) or auto") from None


def _build_options(args: argparse.Namespace) -> BuildOptions:
    """The compile arguments as BuildOptions; those not given take its defaults."""
    given = {"io_type": args.io_type, "reuse_factor": _reuse_factor(args.reuse_factor),
             "precision": args.precision, "input_precision": args.input_precision,
             "part": args.part, "clock_period": args.clock_period, "board": args.board,
             "input_shape": _input_shape(args.input_shape), "adder_levels": args.adder_levels}
    return BuildOptions(**{k: v for k, v in given.items() if v is not None})


def _compile(args: argparse.Namespace) -> int:
    art = compile_artifact(args.model, args.output, _build_options(args), weights=args.weights,
                           force=args.force)
    m = art.manifest
    print(f"{art.path}: {m.name} in {m.input_type} x{m.input_shape} -> out {m.output_type} "
          f"x{m.output_shape}; latency {m.latency} cycles, II {m.ii}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from kiln.runtime import ShardFailure
    from kiln.verify import format_table, verify, verify_each

    x = _load_array(args.inputs, "inputs") if args.inputs else None
    labels = _load_array(args.labels, "labels") if args.labels else None
    options: dict[str, Any] = {"x": x, "labels": labels, "samples": args.samples,
                               "protocol": not args.no_protocol}
    if len(args.artifact) == 1:   # one artifact: its samples shard over the workers
        results: list[Any] = [verify(args.artifact[0], workers=args.workers,
                                     address=args.address, **options)]
    else:                         # several: one artifact per worker
        results = verify_each(args.artifact, workers=args.workers, address=args.address,
                              **options)
    reports = [r for r in results if not isinstance(r, ShardFailure)]
    failures = [r for r in results if isinstance(r, ShardFailure)]
    if reports:
        print(format_table(reports))
    for failure in failures:
        print(f"{failure.shard}: FAILED after {failure.attempts} attempt(s): {failure.error}")
    return 0 if all(r.passed for r in reports) and not failures else 1


def _predict(args: argparse.Namespace) -> int:
    import kiln

    if args.transport and ((args.workers or 1) > 1 or args.address):
        raise KilnError("--transport attaches a board to this process; Ray workers cannot use "
                        "it. Drop --workers/--address, or --transport (workers then use "
                        "$KILN_FPGA or their own PYNQ board)")
    runtime = kiln.load(args.artifact)
    if args.transport:
        runtime.device("fpga").attach(args.transport)
    y = runtime.predict(_load_array(args.inputs, "inputs"), device=args.device, raw=args.raw,
                        workers=args.workers, address=args.address)
    if args.output:
        np.save(args.output, y)
    else:
        np.savetxt(sys.stdout, y.reshape(len(y), -1), fmt="%d" if args.raw else "%.10g")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import kiln

    labels = _load_array(args.labels, "labels") if args.labels else None
    report = kiln.load(args.artifact).compare(
        _load_array(args.inputs, "inputs"), devices=args.devices, y_true=labels
    )
    print(report)
    if args.json:
        Path(args.json).write_text(report.to_json())
    if args.plot:
        report.plot(args.plot)
    return 0 if report.all_bit_exact else 1


def _level_list(text: str) -> list[str]:
    """``--levels``: comma-separated names from kiln.trace's levels."""
    from kiln.trace import LEVELS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LEVELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown level(s) {unknown or text!r}; choose from {', '.join(LEVELS)}")
    return names


def _trace(args: argparse.Namespace) -> int:
    import kiln

    x = _load_array(args.inputs, "inputs")
    if args.samples is not None:
        x = x[:args.samples]
    runtime = kiln.load(args.artifact)
    trace = runtime.trace(x, levels=args.levels, cache=args.cache)
    print(trace)
    if args.json:
        Path(args.json).write_text(trace.to_json())
    if args.labels:
        labels = _load_array(args.labels, "labels")
        sweep = runtime.bit_sweep(_load_array(args.inputs, "inputs"), labels)
        print(sweep)
        if args.plot:
            sweep.plot(args.plot)
    return 0 if trace.first_divergence() is None else 1


def _explore(args: argparse.Namespace) -> int:
    from kiln.study import explore, load_space

    study = explore(args.recipe, load_space(args.space), out=args.out, workers=args.workers,
                    address=args.address, samples=args.samples)
    print(study.table())
    print(f"{study.out}: study.json, table.txt, pareto.png ({study.wall_s:.0f} s)")
    return 0 if study.ok else 1


def _flow_command(command: Callable[[argparse.Namespace], tuple[int, str]]
                  ) -> Callable[[argparse.Namespace], int]:
    """A kiln.flows ``*_command`` (which returns its status and text) as a subcommand."""
    def run(args: argparse.Namespace) -> int:
        status, text = command(args)
        print(text)
        return status
    return run


def _add_flow_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from kiln.cli import _flows as flows

    for name, help_text, add, command in (
        ("bitstream", "artifact -> bitstream for a board (open flow or Vivado)",
         flows.add_bitstream_arguments, flows.bitstream_command),
        ("program", "load a built bitstream onto a board with openFPGALoader",
         flows.add_program_arguments, flows.program_command),
        ("estimate", "Xilinx resource estimate (yosys synth_xilinx) -> reports/resources.json",
         flows.add_estimate_arguments, flows.estimate_command),
    ):
        p = sub.add_parser(name, help=help_text)
        add(p)
        p.set_defaults(func=_flow_command(command))


def _add_ray_arguments(p: argparse.ArgumentParser, sharding: str) -> None:
    """``--workers`` and ``--address``: run on Ray (kiln._ray), as kiln explore does."""
    group = p.add_argument_group("Ray", f"run on Ray workers: {sharding}")
    group.add_argument("--workers", type=int, metavar="N",
                       help="Ray workers; with N > 1 kiln starts a local Ray with N CPUs "
                       "(default: 1, this process, no Ray)")
    group.add_argument("--address", help="Ray cluster, e.g. ray://HOST:10001 or auto; every "
                       "worker must read the artifact at the same path (a shared filesystem)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="model -> artifact (HLS project, Verilog, manifest)")
    p.add_argument("model", help="QKeras/Keras .h5, .keras, or .json (+ weights); PyTorch "
                   ".pt/.pth (TorchScript or a pickled module) or QONNX/ONNX .onnx")
    p.add_argument("-o", "--output", required=True, help="artifact directory")
    p.add_argument("--weights", help="weights .h5 for a .json model")
    p.add_argument("--precision", metavar="TYPE",
                   help="float models: one type such as fixed<16,6> for every weight, bias and "
                   "layer result (results saturate unless the type names an overflow mode); "
                   "default for a Keras float model: 16-bit types fitted over the input range")
    p.add_argument("--input-precision", metavar="TYPE",
                   help="input type when the input has no quantizer (default: --precision, "
                   "else fixed<16,6>)")
    p.add_argument("--input-shape", metavar="SHAPE",
                   help="PyTorch models: input shape without the batch, channels first, e.g. 64 "
                   "or 1,8,8")
    p.add_argument("--io-type", choices=IO_TYPES,
                   help="io_parallel: one beat is one sample (MLPs; default); io_stream: one "
                   "beat is one pixel (convolutional networks). Choices: %(choices)s")
    p.add_argument("--reuse-factor", metavar="R | LAYER=R,... | auto",
                   help="fold Dense and Conv layers in time: a sample (or output pixel) every "
                        "R cycles with about 1/R of the multipliers; one factor for all "
                        "layers, per layer (fc1=16,fc2=4), or auto: the fastest factors that "
                        "fit the part or --board; default 1 (fully unrolled)")
    p.add_argument("--adder-levels", type=int, metavar="N",
                   help="adder levels between pipeline registers in unfolded Dense and Conv "
                        "layers: more gives fewer registers and cycles, a longer path per "
                        "clock (default: 2)")
    p.add_argument("--board", help="fit the design to this board's part (see `kiln "
                   "bitstream --help` for the boards)")
    p.add_argument("--part", help=f"FPGA part of the HLS project (default: {DEFAULT_PART})")
    p.add_argument("--clock-period", type=float, metavar="NS",
                   help=f"clock period in ns (default: {DEFAULT_CLOCK_PERIOD})")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.set_defaults(func=_compile)

    p = sub.add_parser("verify", help="RTL vs HLS vs reference, Icarus, cocotb protocol")
    p.add_argument("artifact", nargs="+", metavar="ARTIFACT",
                   help="artifact folder(s) written by kiln compile; several are verified "
                   "one per Ray worker with --workers N or --address")
    p.add_argument("--inputs", help=".npy inputs (default: random codes over the input range)")
    p.add_argument("--labels", help=".npy labels for accuracy")
    p.add_argument("--samples", type=int, default=10_000, help="random inputs when no --inputs")
    p.add_argument("--no-protocol", action="store_true", help="skip the cocotb bench")
    _add_ray_arguments(p, "one artifact's samples in contiguous shards, several artifacts one "
                       "per worker")
    p.set_defaults(func=_verify)

    p = sub.add_parser("predict", help="run inputs on one device")
    p.add_argument("artifact", help="artifact folder written by kiln compile")
    p.add_argument("inputs", help=".npy inputs")
    p.add_argument("--device", default="auto", choices=DEVICE_NAMES,
                   help="where to run (default: auto, the first present of fpga, cuda, cpu). "
                   "Choices: %(choices)s")
    p.add_argument("--raw", action="store_true", help="integer codes instead of values")
    p.add_argument("--transport", metavar="SPEC",
                   help="the fpga device's link: pynq[:BOARD], serial:PORT[@BAUD] or "
                        "sim[:serial|:pynq] (default: $KILN_FPGA, else PYNQ when on one)")
    p.add_argument("-o", "--output", help="write .npy here instead of printing")
    _add_ray_arguments(p, "the inputs in contiguous shards, outputs in input order")
    p.set_defaults(func=_predict)

    p = sub.add_parser("compare", help="run inputs on several devices and compare")
    p.add_argument("artifact", help="artifact folder written by kiln compile")
    p.add_argument("inputs", help=".npy inputs")
    p.add_argument("--labels", help=".npy labels for accuracy")
    p.add_argument("--devices", default=_device_list("reference,hls,fpga-sim,cpu"),
                   type=_device_list, metavar="D1,D2,...",
                   help="comma-separated devices to run and compare (default: "
                   f"reference,hls,fpga-sim,cpu); from {', '.join(DEVICE_NAMES[1:])}")
    p.add_argument("--json", help="write the report as JSON here")
    p.add_argument("--plot", help="write a PNG plot here")
    p.set_defaults(func=_compare)

    p = sub.add_parser("trace", help="every layer's codes at every level; the first layer "
                       "where two levels differ")
    p.add_argument("artifact", help="artifact folder written by kiln compile")
    p.add_argument("inputs", help=".npy inputs")
    p.add_argument("--samples", type=int, metavar="N", help="trace the first N inputs only")
    p.add_argument("--levels", default="reference,fixed,hls,rtl", type=_level_list,
                   metavar="L1,L2,...", help="levels to trace (default: "
                   "reference,fixed,hls,rtl)")
    p.add_argument("--cache", help="folder for the traced builds (default: the user's kiln "
                   "cache for the C simulation, the artifact's sim/ for the RTL probe)")
    p.add_argument("--json", help="write the per-layer summary as JSON here")
    p.add_argument("--labels", help=".npy labels: also print accuracy (all inputs, kiln.fixed) "
                   "against each layer's output width, one layer narrowed at a time")
    p.add_argument("--plot", help="with --labels: write that accuracy-vs-width plot here")
    p.set_defaults(func=_trace)

    p = sub.add_parser("explore", help="train, compile, verify and cost every point of a "
                       "search space on Ray; table, Pareto front and plot")
    p.add_argument("recipe", help="Python file with train(config) -> model and data() -> (x, y)")
    p.add_argument("--space", required=True, metavar="YAML",
                   help="search space: {key: [values]} (a grid) or {strategy: random, samples: "
                   "N, seed: S, space: {...}}; reuse_factor, io_type, adder_levels, board, part "
                   "go to kiln.compile, the other keys to the recipe")
    p.add_argument("--address", help="Ray cluster, e.g. ray://HOST:10001 (default: a local Ray "
                   "started for this run)")
    p.add_argument("--workers", type=int, metavar="N", help="trials at once (local default: 2)")
    p.add_argument("--out", help="study folder (default: build/explore/<recipe name>); a rerun "
                   "there skips the trials already finished")
    p.add_argument("--samples", type=int, default=300,
                   help="test samples verified bit for bit per trial (default: 300)")
    p.set_defaults(func=_explore)

    _add_flow_parsers(sub)
    return parser


def _setup_logging(verbose: bool) -> None:
    """kiln's own log at INFO (DEBUG with -v); hls4ml's, TensorFlow's and every other
    library's log and Python warnings only with -v (errors always)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)
    logging.getLogger("kiln").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)
    if not verbose:
        warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except KilnError as exc:
        print(f"kiln: error: {exc}", file=sys.stderr)
        return 2
