"""Resource estimates without a board: yosys ``synth_xilinx`` for a Xilinx family, counting
LUTs, flip-flops, DSPs, carry chains and block RAMs of ``kiln_top`` into
``DIR/reports/resources.json``. An estimate, not Vivado's result: yosys maps differently."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.artifact import TopSources
from kiln.errors import KilnError
from kiln.flows._plan import BuildPlan, Step
from kiln.flows._templates import check_hooks, render
from kiln.flows._toolchain import kiln_version
from kiln.tools import at_least, require_tool

__all__ = ["XILINX_FAMILIES", "ResourceEstimate", "estimate_resources", "plan_estimate"]

log = logging.getLogger(__name__)

#: ``synth_xilinx -family`` values, newest first (xcup: UltraScale+, xcu: UltraScale, xc7: 7).
XILINX_FAMILIES = ("xcup", "xcu", "xc7", "xc6v", "xc6s", "xc5v", "xc4v", "xc3sda", "xc3sa",
                   "xc3se", "xc3s", "xc2vp", "xc2v", "xcve", "xcv")
ESTIMATE_HOOKS = ("yosys_opts", "script_after_synth")
_CLASSES = (
    ("LUT", re.compile(r"^(LUT[1-6](_2)?|INV)$")),
    ("FF", re.compile(r"^FD[A-Z_]*$")),
    ("DSP", re.compile(r"^DSP48")),
    ("CARRY", re.compile(r"^CARRY[48]$")),
    ("BRAM", re.compile(r"^RAMB(18|36)")),
    ("LUTRAM", re.compile(r"^RAM(16|32|64|128|256)X")),
    ("SRL", re.compile(r"^SRL")),
    ("MUXF", re.compile(r"^MUXF[789]$")),
)


@dataclass(frozen=True)
class ResourceEstimate:
    """Cells of ``kiln_top`` after ``synth_xilinx -family FAMILY``.

    Attributes:
        family: the yosys family name.
        resources: LUT, FF, DSP, CARRY, BRAM, LUTRAM, SRL, MUXF counts.
        cells: every cell type and its count.
        yosys: the yosys version.
    """

    family: str
    resources: Mapping[str, int]
    cells: Mapping[str, int] = field(default_factory=dict)
    yosys: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "tool": f"yosys synth_xilinx ({self.yosys})",
                "resources": dict(self.resources), "cells": dict(self.cells)}


def plan_estimate(artifact: str | Path, family: str = "xcup", *,
                  overrides: Mapping[str, str] | None = None) -> BuildPlan:
    """The estimate's yosys run, as a plan. Runs nothing.

    Raises:
        KilnError: an unknown family (the message lists them).
    """
    if family not in XILINX_FAMILIES:
        raise KilnError(f"Unknown Xilinx family {family!r} for synth_xilinx; use one of "
                        f"{', '.join(XILINX_FAMILIES)} (xcup is UltraScale+, xc7 is 7-series)")
    design = TopSources.load(artifact)
    hooks = check_hooks(overrides, ESTIMATE_HOOKS, "The resource estimate")
    files = [(f"rtl/{name}", text.encode()) for name, text in design.read_sources()]
    script = render("estimate.ys.j2", kiln_version=kiln_version(), top="kiln_top",
                    family=family, sources=[p for p, _ in files], hooks=hooks)
    files.append(("estimate.ys", script.encode()))
    step = Step("yosys", ("-q", "-l", "estimate.log", "-s", "estimate.ys"),
                f"resource estimate (synth_xilinx -family {family})", "yosys.out")
    return BuildPlan(f"estimate-{family}", tuple(files), (step,), ("stat.json",))


def estimate_resources(artifact: str | Path, family: str = "xcup", *,
                       overrides: Mapping[str, str] | None = None,
                       timeout_s: float | None = None) -> ResourceEstimate:
    """Synthesise ``kiln_top`` with ``synth_xilinx -family FAMILY`` and count its cells.

    Works in ``DIR/reports/.estimate-FAMILY/`` (cached) and merges the result into
    ``DIR/reports/resources.json`` under ``"yosys_synth_xilinx"`` -> FAMILY.

    Raises:
        ToolMissingError: yosys (0.40 or newer) is not installed.
        ToolFailedError: synthesis failed.
    """
    plan = plan_estimate(artifact, family, overrides=overrides)
    design = TopSources.load(artifact)
    yosys = require_tool("yosys", check=at_least((0, 40)), needs="synth_xilinx estimates")
    root = design.artifact / "reports" / f".estimate-{family}"
    plan.execute_local(root, tools={"yosys": yosys}, timeout_s=timeout_s)
    cells = _cell_counts(root / "stat.json")
    resources = {name: sum(n for cell, n in cells.items() if pattern.match(cell))
                 for name, pattern in _CLASSES}
    estimate = ResourceEstimate(family, resources, cells, yosys.version)
    _merge(design.artifact / "reports" / "resources.json", estimate)
    log.info("resource estimate (%s): %s", family,
             ", ".join(f"{k} {v}" for k, v in resources.items()))
    return estimate


def _cell_counts(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KilnError(f"Cannot read yosys's statistics {path}: {exc}") from exc
    modules = data.get("modules", {})
    top = modules.get("\\kiln_top") or modules.get("kiln_top")
    if top is None:
        raise KilnError(f"{path} has no statistics for kiln_top (modules: {sorted(modules)})")
    by_type = top.get("num_cells_by_type", {})
    return {name.lstrip("\\$"): int(count) for name, count in sorted(by_type.items())}


def _merge(path: Path, estimate: ResourceEstimate) -> None:
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            log.warning("%s is not valid JSON; rewriting it", path)
    data.setdefault("yosys_synth_xilinx", {})[estimate.family] = estimate.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
