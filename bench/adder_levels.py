"""The adder-levels-per-stage sweep of docs/hardware-cost.md: one bench model without its
softmax, built by kiln.rtl at each number of adder levels per pipeline stage, synthesised
with yosys ``synth_xilinx -family xcup`` and placed and routed out of context on an ECP5
85F (the da4ml family's flows), one JSON row per setting on stdout.

    python -m bench.adder_levels JET_PRUNED95 1 2 3 4 6 8 > bench/results/adder_levels.jsonl
    python -m bench.adder_levels --plot bench/results/adder_levels.jsonl docs/img/adder_levels.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import BUILD


def sweep(model_name: str, levels: list[int]) -> None:
    from bench import models
    from bench.da4ml_compare import (
        kiln_rtl,
        load_graph,
        place_and_route,
        synthesize,
        without_softmax,
    )

    model = getattr(models, model_name)
    graph = without_softmax(load_graph(model))
    root = BUILD / "adder_levels" / model.name
    for level in levels:
        sources, latency = kiln_rtl(graph, level, root / "rtl")
        work = root / f"L{level}"
        synth = synthesize(sources, "kiln_top", work / "xcup", 3600)
        row = {"model": model.name, "L": level, "latency": latency,
               **{k: synth[k] for k in ("LUT", "FF", "carry", "seconds")},
               "ecp5": place_and_route(sources, "kiln_top", work / "ecp5", 3600)}
        print(json.dumps(row), flush=True)


def plot(rows_file: Path, image: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line]
    x = [r["L"] for r in rows]
    panels = [("LUT6 (synth_xilinx xcup)", [r["LUT"] for r in rows]),
              ("FF (synth_xilinx xcup)", [r["FF"] for r in rows]),
              ("latency (cycles)", [r["latency"] for r in rows]),
              ("ECP5 Fmax (MHz, nextpnr out of context)",
               [r["ecp5"]["fmax_mhz"] for r in rows])]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.2))
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.plot(x, values, "o-")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("adder levels per stage")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
    fig.suptitle(f"kiln adder_levels sweep: {rows[0]['model']} without softmax", fontsize=10)
    fig.tight_layout()
    fig.savefig(image, dpi=110)


if __name__ == "__main__":
    if sys.argv[1] == "--plot":
        plot(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sweep(sys.argv[1], [int(v) for v in sys.argv[2:]])
