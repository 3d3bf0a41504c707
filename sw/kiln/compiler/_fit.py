"""Designs fitted to their part: the guard against a design far beyond it, and the reuse
factors ``reuse_factor="auto"`` chooses, from kiln.rtl's resource estimate.

A design's reuse factors set its throughput: a folded layer needs R cycles per output beat
(a sample in io_parallel, an output pixel of a convolution in io_stream), and the slowest
layer sets the cycles per sample. ``auto`` tries the smallest such interval first: at
interval T every layer takes the largest factor it accepts whose cycles stay within T (the
fewest multipliers that keep up); where that needs more DSP blocks than the part has to
spare, layers build their multipliers in logic, narrowest products first; and the first T
whose estimate fits ``FIT_MARGIN`` of the part's logic and ``HARD_BLOCK_MARGIN`` of its DSP
and block RAM wins. In io_stream T starts at the beats of the largest frame, which the
stream takes anyway.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import KilnError
from kiln.ir import Conv, Dense, Graph, check_graph, valid_reuse_factors, with_lut_multipliers
from kiln.rtl import Cost, estimate, output_beats

if TYPE_CHECKING:
    from kiln.compiler._options import BuildOptions
    from kiln.frontend import Source

log = logging.getLogger(__name__)

#: A design whose estimate needs more than this many times a resource of its part is refused
#: before any Verilog is written (its RTL and emulator would not build in reasonable memory).
FAR_BEYOND = 2.0
FIT_REPORT = "reports/fit.json"


class DesignTooLargeError(KilnError):
    """The design is far beyond its part, or no reuse factors make it fit."""


def with_reuse_factors(graph: Graph, factors: dict[str, int]) -> Graph:
    """``graph`` with the Dense and Conv layers ``factors`` names folded by them."""
    nodes = tuple(dataclasses.replace(n, reuse_factor=factors[n.name])
                  if isinstance(n, Dense | Conv) and n.name in factors else n
                  for n in graph.nodes)
    return check_graph(dataclasses.replace(graph, nodes=nodes))


def _usage(total: Cost, part: str) -> dict[str, float]:
    """Each resource's estimated use (``total``) as a share of the part's."""
    from kiln.flows import part_capacity

    cap = part_capacity(part)
    lut = total.lut4 if cap.lut_kind == "LUT4" else total.lut6
    return {cap.lut_kind: lut / cap.lut, "FF": total.ff / cap.ff,
            "DSP": total.dsp / cap.dsp if cap.dsp else float(total.dsp > 0),
            "BRAM18": total.bram / cap.bram18 if cap.bram18 else float(total.bram > 0)}


def _at_interval(graph: Graph, layers: list[Dense | Conv], interval: int) -> dict[str, int]:
    """Each layer's largest valid factor whose cycles per sample stay within ``interval``."""
    return {n.name: max((r for r in valid_reuse_factors(*n.fold_shape)
                         if r * output_beats(graph, n) <= interval), default=1)
            for n in layers}


@dataclass(frozen=True)
class Fit:
    """What ``auto`` chose: each foldable layer's reuse factor, and the folded layers whose
    multipliers are built in logic because the part's DSP blocks ran out."""

    reuse_factors: dict[str, int]
    lut_multipliers: tuple[str, ...] = ()

    def apply(self, graph: Graph) -> Graph:
        return with_lut_multipliers(with_reuse_factors(graph, self.reuse_factors),
                                    self.lut_multipliers)


def _fits(usage: dict[str, float], margin: float) -> bool:
    """Logic (LUTs, registers) within ``margin`` of the part, DSP and block RAM within
    HARD_BLOCK_MARGIN."""
    from kiln.compiler._options import HARD_BLOCK_MARGIN

    return all(share <= (HARD_BLOCK_MARGIN if name in ("DSP", "BRAM18") else margin)
               for name, share in usage.items())


def _multipliers_into_logic(graph: Graph, part: str) -> tuple[tuple[str, ...], dict[str, float]]:
    """While the folded ``graph`` needs more DSP blocks than HARD_BLOCK_MARGIN of ``part``,
    the folded layer with the narrowest products (the least logic per block freed; of
    those, the fewest multipliers) moves its multipliers into logic. Returns the layers
    moved and the usage after."""
    from kiln.compiler._options import HARD_BLOCK_MARGIN

    # logic per multiplier (product bits), then the fewest multipliers first
    order = {n.name: ((prev.out_type.width + 1) * n.weight_type.width,
                      n.weight.size // n.reuse_factor)
             for prev, n in zip(graph.nodes, graph.nodes[1:], strict=False)
             if isinstance(n, Dense | Conv) and n.reuse_factor > 1}
    moved: list[str] = []
    usage = _usage(estimate(graph)["total"], part)
    for name in sorted(order, key=lambda k: order[k]):
        if usage["DSP"] <= HARD_BLOCK_MARGIN:
            break
        moved.append(name)
        usage = _usage(estimate(with_lut_multipliers(graph, moved))["total"], part)
    return tuple(moved), usage


def choose_fit(graph: Graph, part: str, margin: float,
               foldable: Collection[str] | None = None) -> Fit:
    """The reuse factors of the fastest design whose estimate fits ``part`` (logic within
    ``margin``, DSP and block RAM within HARD_BLOCK_MARGIN), folding the layers named in
    ``foldable`` (default: every Dense and Conv); where the DSP blocks run out, the layers
    with the narrowest products build their multipliers in logic.

    Raises:
        DesignTooLargeError: not even the most folded design fits; the message says what
            is short.
    """
    from kiln.compiler._options import HARD_BLOCK_MARGIN

    layers = [n for n in graph.nodes if isinstance(n, Dense | Conv)
              and (foldable is None or n.name in foldable)]
    floor = max(output_beats(graph, n) for n in graph.nodes)
    candidates = sorted({floor} | {r * output_beats(graph, n) for n in layers
                                   for r in valid_reuse_factors(*n.fold_shape)
                                   if r * output_beats(graph, n) >= floor})
    usage: dict[str, float] = {}
    for interval in candidates:
        factors = _at_interval(graph, layers, interval)
        lut, usage = _multipliers_into_logic(with_reuse_factors(graph, factors), part)
        if _fits(usage, margin):
            log.info("reuse factors for %s: %s%s (II %d; estimate %s of the part)", part,
                     factors, f", multipliers in logic: {list(lut)}" if lut else "", interval,
                     _shares(usage))
            return Fit(factors, lut)
    raise DesignTooLargeError(
        f"Graph {graph.name!r} does not fit {part} at any reuse factor: folded as far as "
        f"hls4ml allows it still needs {_shares(usage)} of the part (kiln fills at most "
        f"{margin:.0%} of its logic and {HARD_BLOCK_MARGIN:.0%} of its DSP and block RAM). "
        "Use a bigger part (part= or board=), fewer or narrower layers, or more pruning.")


def check_fits(graph: Graph, part: str) -> dict[str, Cost]:
    """Refuse a design whose estimate is far beyond ``part``, naming the reuse factors that
    would fit; return the estimate (per layer and ``"total"``).

    Raises:
        DesignTooLargeError: the estimate needs more than ``FAR_BEYOND`` times a resource.
    """
    from kiln.compiler._options import FIT_MARGIN

    costs = estimate(graph)
    usage = _usage(costs["total"], part)
    if max(usage.values()) <= FAR_BEYOND:
        return costs
    # io_parallel builds convolutions unrolled only: there the Dense layers fold.
    foldable = None if graph.io_type == "io_stream" else [
        n.name for n in graph.nodes if isinstance(n, Dense)]
    try:
        factors = choose_fit(graph, part, FIT_MARGIN, foldable).reuse_factors
        hint = f"reuse factors that fit: reuse_factor={factors} (or reuse_factor='auto')"
    except DesignTooLargeError as exc:
        hint = str(exc)
    if any(isinstance(n, Conv) for n in graph.nodes) and graph.io_type != "io_stream":
        hint += (", or compile with io_type='io_stream', which builds a convolution once "
                 "per pixel instead of once per output pixel")
    raise DesignTooLargeError(
        f"Graph {graph.name!r} is far beyond {part}: kiln's estimate needs {_shares(usage)} of "
        f"the part, so no Verilog was written. Fold it in time with {hint}.")


def _shares(usage: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in usage.items())


def fit_to_part(source: Source, hls_dir: Path, graph: Graph, foldable: Collection[str],
                options: BuildOptions) -> tuple[Any, Graph]:
    """Convert and lower the model again with the reuse factors that fit ``options.part``
    (``graph``: the model lowered unfolded). Returns the ModelGraph and the folded graph."""
    from kiln import frontend
    from kiln.compiler._options import FIT_MARGIN

    fit = choose_fit(graph, options.part, FIT_MARGIN, foldable)
    fitted = dataclasses.replace(options, reuse_factor=fit.reuse_factors or 1)
    graph_hls = source.convert(hls_dir, fitted)
    return graph_hls, fit.apply(frontend.lower(graph_hls, graph.name, fitted))


def write_fit_report(root: Path, graph: Graph, part: str, requested: Any,
                     costs: dict[str, Cost]) -> dict[str, Any]:
    """``reports/fit.json``: the part, the reuse factor asked for and those built, and the
    estimate ``costs`` per layer and in all (with its share of the part)."""
    report = {
        "part": part, "requested_reuse_factor": requested,
        "reuse_factors": {n.name: n.reuse_factor for n in graph.nodes
                          if isinstance(n, Dense | Conv)},
        "lut_multipliers": [n.name for n in graph.nodes
                            if isinstance(n, Dense | Conv) and n.lut_multipliers],
        "estimate": {name: cost.to_dict() for name, cost in costs.items()},
        "share_of_part": {k: round(v, 4) for k, v in _usage(costs["total"], part).items()},
    }
    path = root / FIT_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report
