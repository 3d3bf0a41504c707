"""``kiln bitstream``: from an artifact's ``kiln_top`` to a bitstream for a board.

``plan_bitstream`` is the dry run (files and scripts, no tools); ``build_bitstream`` runs the
plan in ``DIR/bitstream/<board>/`` (cached by the plan's digest and the tool versions) and
writes ``DIR/reports/bitstream_<board>.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.artifact import TopSources
from kiln.errors import ToolFailedError, ToolMissingError
from kiln.flows._board import Board, BoardError
from kiln.flows._boards import boards, get_board
from kiln.flows._open import IceStorm, Trellis, bigger_boards
from kiln.flows._plan import BuildPlan, BuildResult
from kiln.flows._report import BitstreamReport, fit_error_from_log, timing_error
from kiln.flows._toolchain import Toolchain
from kiln.flows._vivado import Vivado, VivadoZynq7, VivadoZynqMP

__all__ = ["TOOLCHAINS", "build_bitstream", "plan_bitstream", "report_path", "toolchain_for"]

log = logging.getLogger(__name__)

TOOLCHAINS: dict[str, type[Toolchain]] = {
    cls.family: cls for cls in (Trellis, IceStorm, VivadoZynq7, VivadoZynqMP)
}


def toolchain_for(board: str | Board, **options: Any) -> Toolchain:
    """The toolchain of ``board``'s family, with ``options`` (``overrides``, ``seed``, and
    for Vivado ``jobs`` and ``allow_timing_fail``).

    Raises:
        BoardError: unknown board, or a family no toolchain builds.
    """
    b = get_board(board)
    cls = TOOLCHAINS.get(b.family)
    if cls is None:
        raise BoardError(f"Board {b.name}: no toolchain builds the family {b.family!r}; "
                         f"kiln has {', '.join(sorted(TOOLCHAINS))}")
    return cls(b, **options)


def report_path(artifact: str | Path, board: str) -> Path:
    """Where ``build_bitstream`` writes its report: ``DIR/reports/bitstream_<board>.json``."""
    return TopSources.load(artifact).artifact / "reports" / f"bitstream_{board}.json"


def plan_bitstream(artifact: str | Path, board: str | Board, *,
                   overrides: Mapping[str, str] | None = None, seed: int = 1) -> BuildPlan:
    """The build of ``artifact`` for ``board``: every file and tool step. Runs nothing.

    Raises:
        ArtifactError: ``artifact`` has no usable ``rtl/``.
        BoardError: unknown board.
    """
    return toolchain_for(board, overrides=dict(overrides or {}), seed=seed).plan(
        TopSources.load(artifact))


def build_bitstream(artifact: str | Path, board: str | Board, *,
                    overrides: Mapping[str, str] | None = None, seed: int = 1,
                    allow_timing_fail: bool = False, force: bool = False,
                    timeout_s: float | None = None) -> BitstreamReport:
    """Build a bitstream of ``artifact`` for ``board`` in ``DIR/bitstream/<board>/``.

    Open boards (ECP5, iCE40) get ``kiln_top`` behind the UART bridge, built with yosys,
    nextpnr and ecppack / icepack; Zynq boards get a Vivado block design with an AXI DMA.

    Args:
        artifact: the artifact directory (``kiln compile``'s output).
        board: a board name (``kiln.flows.board_names()``) or a Board.
        overrides: text for the toolchain's named template hooks.
        seed: placement seed.
        allow_timing_fail: keep a bitstream that misses the board clock (else TimingError).
        force: rebuild even when the build directory holds this build already.
        timeout_s: wall-clock limit per tool step.

    Raises:
        ToolMissingError: a tool is missing; the scripts are written first, and the message
            says where and what they would do.
        FitError: the design needs more of a resource than the part has.
        TimingError: the achieved Fmax is below the board clock.
        ToolFailedError: a tool failed for another reason.
    """
    b = get_board(board)
    options: dict[str, Any] = {"overrides": dict(overrides or {}), "seed": seed}
    if issubclass(TOOLCHAINS.get(b.family, Toolchain), Vivado):
        options["allow_timing_fail"] = allow_timing_fail
    chain = toolchain_for(b, **options)
    design = TopSources.load(artifact)
    plan = chain.plan(design)
    root = chain.build_dir(design)
    try:
        tools = plan.find_tools()
    except ToolMissingError as exc:
        plan.write(root)
        raise ToolMissingError(f"{exc} Nothing was built; {_would_do(chain, root)}") from exc
    try:
        result = plan.execute_local(root, tools=tools, timeout_s=timeout_s, force=force)
    except ToolFailedError as exc:
        fit = fit_error_from_log(exc.output, b.name, b.device,
                                 bigger_boards(b, list(boards().values())))
        if fit is not None:
            raise fit from exc
        if isinstance(chain, Vivado) and "kiln: timing fails" in exc.output:
            stale = BuildResult(root, False, {}, {n: t.version for n, t in tools.items()}, "")
            raise timing_error(_finish(chain, design, stale, plan)) from exc
        raise
    report = _finish(chain, design, result, plan)
    if not report.timing_met:
        if not allow_timing_fail:
            raise timing_error(report)
        log.warning("%s: timing fails; the bitstream was kept (allow_timing_fail)", b.name)
    return report


def _finish(chain: Toolchain, design: TopSources, result: BuildResult,
            plan: BuildPlan) -> BitstreamReport:
    report = chain.finish(design, result, plan)
    path = report.write(design.artifact / "reports" / f"bitstream_{chain.board.name}.json")
    log.debug("%s", report.summary())
    log.info("%s: report in %s", chain.board.name, path)
    return report


def _would_do(chain: Toolchain, root: Path) -> str:
    if isinstance(chain, Vivado):
        return (f"kiln wrote {root / 'build.tcl'}, which creates a Vivado project for "
                f"{chain.board.device} with a block design ({chain.ps_ip} + axi_dma + "
                f"kiln_top between the DMA's MM2S and S2MM streams) and writes kiln.bit and "
                f"kiln.hwh for PYNQ. Run it where Vivado is installed: cd {root} && vivado "
                f"-mode batch -source build.tcl")
    return (f"kiln wrote the scripts into {root}; once the tools are installed, "
            f"`sh {root / 'build.sh'}` (or this call again) builds the bitstream")
