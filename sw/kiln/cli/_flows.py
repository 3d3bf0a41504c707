"""Argument groups for ``kiln bitstream``, ``kiln program`` and ``kiln estimate`` (LiteX's
``trellis_args`` / ``trellis_argdict`` pattern): the CLI adds them to its sub-parsers and
calls the ``*_command`` functions, which return (exit status, text to print)."""

from __future__ import annotations

import argparse

from kiln.artifact import TopSources
from kiln.errors import KilnError
from kiln.flows import (
    XILINX_FAMILIES,
    board_names,
    build_bitstream,
    estimate_resources,
    plan_bitstream,
    program,
    report_path,
    toolchain_for,
)


def _overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise KilnError(f"--override wants HOOK=TEXT, not {item!r}")
        out[name] = f"{out[name]}\n{text}" if name in out else text
    return out


def add_bitstream_arguments(parser: argparse.ArgumentParser) -> None:
    """``kiln bitstream DIR --board B [--seed N] [--allow-timing-fail] [--force]
    [--override HOOK=TEXT ...] [--dry-run]``."""
    parser.add_argument("artifact", help="artifact directory (kiln compile's output)")
    parser.add_argument("--board", required=True, metavar="BOARD",
                        help=f"one of: {', '.join(board_names())}")
    group = parser.add_argument_group("flow options")
    group.add_argument("--seed", type=int, default=1, help="placement seed")
    group.add_argument("--allow-timing-fail", action="store_true",
                       help="keep a bitstream that misses the board clock")
    group.add_argument("--force", action="store_true", help="rebuild even if up to date")
    group.add_argument("--override", action="append", default=[], metavar="HOOK=TEXT",
                       help="text for a named template hook (e.g. nextpnr_opts=--seed 3)")
    group.add_argument("--dry-run", action="store_true",
                       help="write the scripts into DIR/bitstream/BOARD and run nothing")


def bitstream_command(args: argparse.Namespace) -> tuple[int, str]:
    overrides = _overrides(args.override)
    if args.dry_run:
        plan = plan_bitstream(args.artifact, args.board, overrides=overrides, seed=args.seed)
        root = toolchain_for(args.board).build_dir(TopSources.load(args.artifact))
        plan.write(root)
        steps = "\n".join(f"  {s.what}: {s.tool} {' '.join(s.args)}" for s in plan.steps)
        return 0, f"{root}: {len(plan.files)} files, digest {plan.digest()[:16]}\n{steps}"
    report = build_bitstream(args.artifact, args.board, overrides=overrides, seed=args.seed,
                             allow_timing_fail=args.allow_timing_fail, force=args.force)
    steps = ", ".join(f"{what} {sec:.0f} s" for what, sec in report.seconds.items())
    cached = " (up to date: nothing ran)" if report.cached else ""
    return 0, (f"{report.summary()}\n  {steps}{cached}\n"
               f"  report: {report_path(args.artifact, args.board)}")


def add_program_arguments(parser: argparse.ArgumentParser) -> None:
    """``kiln program DIR --board B [--flash] [--cable C] [--force]``."""
    parser.add_argument("artifact", help="artifact directory with bitstream/BOARD/")
    parser.add_argument("--board", required=True, metavar="BOARD",
                        help=f"one of: {', '.join(board_names())}")
    parser.add_argument("--flash", action="store_true", help="write the configuration flash")
    parser.add_argument("--cable", help="openFPGALoader cable name")
    parser.add_argument("--force", action="store_true", help="load even if timing failed")


def program_command(args: argparse.Namespace) -> tuple[int, str]:
    path = program(args.artifact, args.board, flash=args.flash, cable=args.cable,
                   force=args.force)
    return 0, f"loaded {path}"


def add_estimate_arguments(parser: argparse.ArgumentParser) -> None:
    """``kiln estimate DIR [--family xcup]``."""
    parser.add_argument("artifact", help="artifact directory")
    parser.add_argument("--family", default="xcup", choices=XILINX_FAMILIES,
                        help="yosys synth_xilinx family (xcup: UltraScale+, xc7: 7-series; "
                        "default: xcup). Choices: %(choices)s")


def estimate_command(args: argparse.Namespace) -> tuple[int, str]:
    est = estimate_resources(args.artifact, args.family)
    counts = ", ".join(f"{k} {v}" for k, v in est.resources.items())
    return 0, f"{args.family} (yosys synth_xilinx estimate): {counts}"
