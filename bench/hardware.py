"""Hardware cost: LUT/FF/DSP from yosys ``synth_xilinx`` for UltraScale+, ECP5 utilisation and
Fmax from nextpnr, latency and II in cycles; beside hls4ml's published numbers for the same
models where a source gives them. Tool runs are cached by build-plan digest (the RTL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import Settings, cached, error_row, error_text, log, lookup
from bench.models import BenchModel

FAMILY = "hardware"
XILINX_FAMILY = "xcup"          # UltraScale+, the family of hls4ml's xcvu9p
ECP5_BOARD = "ulx3s-85f"        # LFE5U-85F, the largest ECP5 kiln has a board file for
XILINX_KEYS = ("LUT", "FF", "DSP", "CARRY", "BRAM", "LUTRAM", "SRL", "MUXF")
ECP5_KEYS = ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD")
ECP5_LUT4 = 83_640              # LUT4s of the LFE5U-85F
#: Larger designs are not placed and routed by the bench: the digits MLP (42,023 LUT6) did
#: not get through nextpnr-ecp5's placement in 72 minutes here, which no budget allows.
ECP5_PNR_MAX_LUT6 = 30_000
#: Seconds of new tool runs one ``make bench`` may start (cached results are always used):
#: synthesis of the jet MLPs alone takes longer than the whole suite's 30 minutes here, so
#: each run adds what fits and later runs find it cached.
BUDGET_S = 420.0
QUICK_BUDGET_S = 120.0


class BudgetSpent(Exception):
    """A tool run was not started because the family's time budget is spent."""


def _within(deadline: float, timeout_s: float, compute: Callable[[float], dict[str, Any]]
            ) -> Callable[[], dict[str, Any]]:
    """``compute(timeout)`` with a timeout that ends by ``deadline``: no tool run started by
    a family outlasts its budget."""
    def guarded() -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BudgetSpent("not run: this run's tool budget was spent; the next run of "
                              "this family adds it (tool results are cached)")
        return compute(min(timeout_s, left))
    return guarded

#: hls4ml's published resource numbers for these models, with their source. Nothing is
#: filled in from memory: a model without a number found in a published source says so.
PUBLISHED: dict[str, dict[str, Any]] = {
    "jet_pruned70": {
        "latency": "22 cycles", "II": 2, "part": "xcku115 at 5 ns (HLS estimate 4.37 ns)",
        "source": "hls4ml PR #86 (2018-08-08), a Vivado HLS 2018.2 csynth report of "
                  "KERAS_3layer_70pruned at ap_fixed<16,6>, reuse 1; a development-branch "
                  "result whose II of 2 the PR calls an open issue; resources not given there",
    },
}
NOT_FOUND = "not found"
PUBLISHED_NOTE = (
    "Where hls4ml's numbers for these models are published: Duarte et al., \"Fast inference "
    "of deep neural networks in FPGAs for particle physics\", JINST 13 (2018) P07027 (the "
    "float and pruned 3-layer jet MLP), and Coelho et al., \"Automatic heterogeneous "
    "quantization of deep neural networks for low-latency inference on the edge for particle "
    "detectors\", Nature Machine Intelligence 3 (2021) 675 (the 6-bit QKeras model). Their "
    "resource tables could not be read from this offline machine (searched: paper pages, "
    "hls4ml docs, issues and tutorials, the example-models repository), so none of their "
    "numbers is given. The one hls4ml-produced number found for these models is the latency "
    "and II of the 70% pruned jet MLP in hls4ml's pull request #86 "
    "(github.com/fastmachinelearning/hls4ml/pull/86); the digits models are kiln's own.")


def xilinx_resources(artifact_dir: Any, timeout_s: float, deadline: float = float("inf")
                     ) -> tuple[dict[str, Any], bool]:
    """``synth_xilinx`` cell counts of the artifact (cached), and whether they were cached.

    Raises:
        BudgetSpent: not cached, and ``deadline`` (``time.monotonic()``) has passed.
    """
    from kiln.flows import estimate_resources, plan_estimate
    from kiln.tools import require_tool

    key = (XILINX_FAMILY, plan_estimate(artifact_dir, XILINX_FAMILY).digest(),
           require_tool("yosys").version)
    return cached("synth_xilinx", key, _within(deadline, timeout_s, lambda t: estimate_resources(
        artifact_dir, XILINX_FAMILY, timeout_s=t).to_dict()["resources"]))


def _ecp5_key(artifact_dir: Any) -> tuple[str, ...]:
    from kiln.flows import plan_bitstream

    plan = plan_bitstream(artifact_dir, ECP5_BOARD)
    return (ECP5_BOARD, plan.digest(), *_versions(plan))


def _ecp5(artifact_dir: Any, key: tuple[str, ...], timeout_s: float, deadline: float
          ) -> tuple[dict[str, Any], bool]:
    from kiln.flows import FitError, build_bitstream

    def build(timeout: float) -> dict[str, Any]:
        try:
            report = build_bitstream(artifact_dir, ECP5_BOARD, allow_timing_fail=True,
                                     timeout_s=timeout).to_dict()
        except FitError as exc:  # a fact about the design, so it is cached too
            return {"fits": False, "error": str(exc).splitlines()[0]}
        util = report["utilisation"]
        return {"fits": True,
                "utilisation": {k: {"used": util[k]["used"], "available": util[k]["available"]}
                                for k in ECP5_KEYS if k in util},
                "fmax_mhz": min((c["achieved_mhz"] for c in report["clocks"].values()),
                                default=None),
                "seconds": report["seconds"]}

    return cached("ecp5", key, _within(deadline, timeout_s, build))


def _versions(plan: Any) -> list[str]:
    """The version of every tool a plan runs (part of the cache key)."""
    return [f"{name} {tool.version}" for name, tool in sorted(plan.find_tools().items())]


def measure(model: BenchModel, ecp5: bool, timeout_s: float, deadline: float
            ) -> dict[str, Any]:
    """One model's row; a tool that could not run leaves its reason in the row
    (``xilinx_error``, ``ecp5.error``) beside what did run."""
    import kiln

    missing = model.missing()
    if missing:
        return {"model": model.name, "error": missing}
    try:
        artifact = model.compile()
    except kiln.KilnError as exc:
        log.warning("%s: %s", model.name, exc)
        return error_row(exc, model=model.name)
    row: dict[str, Any] = {"model": model.name, "description": model.description,
                           "latency_cycles": artifact.manifest.latency,
                           "ii": artifact.manifest.ii,
                           "published": PUBLISHED.get(model.name, {"source": NOT_FOUND})}
    try:
        row["xilinx"], row["xilinx_cached"] = xilinx_resources(artifact.path, timeout_s,
                                                                deadline)
    except (kiln.KilnError, BudgetSpent) as exc:
        row["xilinx_error"] = error_text(exc)
    luts = row.get("xilinx", {}).get("LUT", 0)
    if not ecp5:
        return row
    if luts > ECP5_LUT4:
        # a LUT6 is worth one or more LUT4s: this cannot fit, and yosys + nextpnr would
        # spend many minutes finding that out
        row["ecp5"] = {"fits": False, "error": f"not attempted: synth_xilinx needs {luts:,} "
                       f"LUT6, more than the {ECP5_LUT4:,} LUT4 of the LFE5U-85F"}
        return row
    key = _ecp5_key(artifact.path)
    known = lookup("ecp5", key)
    if known is not None:  # measured before: a result or a fit failure
        row["ecp5"], row["ecp5_cached"] = known, True
        return row
    if luts > ECP5_PNR_MAX_LUT6:
        row["ecp5"] = {"fits": None, "error": f"not attempted: {luts:,} LUT6 in synth_xilinx; "
                       "ECP5 place and route of designs this size did not finish within an "
                       "hour here (nextpnr-ecp5 in WebAssembly, one thread); run `kiln "
                       "bitstream` on it where time allows"}
        return row
    try:
        row["ecp5"], row["ecp5_cached"] = _ecp5(artifact.path, key, timeout_s, deadline)
    except (kiln.KilnError, BudgetSpent) as exc:
        row["ecp5"] = {"fits": None, "error": error_text(exc)}
    return row


def _rtl_bytes(model: BenchModel) -> int:
    """Size of the model's generated Verilog (a proxy for tool time); 0 where it has none."""
    rtl = model.build_dir / "rtl"
    return sum(f.stat().st_size for f in rtl.glob("*.v")) if rtl.is_dir() else 0


def run(models: tuple[BenchModel, ...], settings: Settings) -> dict[str, Any]:
    quick = settings.quick
    timeout_s = 120.0 if quick else 1800.0
    budget_s = settings.budget(QUICK_BUDGET_S if quick else BUDGET_S)
    deadline = time.monotonic() + budget_s
    # Smallest designs first, so the budget buys as many results as it can; the table keeps
    # the models' own order.
    order = sorted(models, key=_rtl_bytes)
    measured = {}
    for model in order:
        log.info("hardware: %s", model.name)
        measured[model.name] = measure(model, ecp5=not quick, timeout_s=timeout_s,
                                       deadline=deadline)
    rows = [measured[m.name] for m in models]
    return {"rows": rows, "xilinx_family": XILINX_FAMILY, "ecp5_board": ECP5_BOARD,
            "timeout_s": timeout_s, "budget_s": budget_s, "published_note": PUBLISHED_NOTE}
