"""The LeNet MNIST CNN on the ULX3S 85F (issue 13): each recipe (QKeras, Brevitas) compiled
with ``reuse_factor="auto", board="ulx3s-85f"``, verified bit for bit on the 1,000-image
test split, its cycles per frame measured in the emulator, frames sent through the fpga
device over the simulated serial link, and a real ECP5 bitstream: frames/s at the routed
Fmax, against the target of 2,000."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import BUILD, Settings, error_row, log

FAMILY = "lenet"
BOARD = "ulx3s-85f"
TARGET_FPS = 2000
#: Frames through the driver and the simulated serial board (each takes about a second of
#: emulated wire time per frame on a 115,200-baud link).
LINK_FRAMES = 4
#: Frames run back to back in the emulator to measure cycles per frame.
CYCLE_FRAMES = (4, 12)
BITSTREAM_TIMEOUT_S = 4 * 3600.0
RECIPES = {"lenet_mnist": "lenet_mnist.h5", "lenet_mnist_brevitas": "lenet_mnist_brevitas.onnx"}


def _test_split(channels_first: bool) -> tuple[np.ndarray, np.ndarray]:
    from models.data import mnist_split

    _, x_test, _, y_test = mnist_split()
    return (x_test.transpose(0, 3, 1, 2) if channels_first else x_test), y_test


def _cycles_per_frame(art: Any, x: np.ndarray) -> dict[str, Any]:
    """Cycles for back-to-back frames at full rate in the emulator: the steady interval
    between frames and the first frame's latency."""
    import kiln
    from kiln.sim import Emulator

    emulator = Emulator.build(art.path / "rtl", art.path / "sim")
    codes = kiln.load(art.path).input_codes(x[:max(CYCLE_FRAMES)])
    few, many = (emulator.run(codes[:n]).cycles for n in CYCLE_FRAMES)
    ii = (many - few) / (CYCLE_FRAMES[1] - CYCLE_FRAMES[0])
    return {"ii_measured": ii, "cycles_first_frames": {CYCLE_FRAMES[0]: few,
                                                        CYCLE_FRAMES[1]: many}}


def _through_the_driver(art: Any, x: np.ndarray) -> dict[str, Any]:
    """LINK_FRAMES frames through the fpga device and the simulated serial board, against
    fpga-sim (the emulator) code for code."""
    import kiln

    rt = kiln.load(art.path)
    rt.device("fpga").attach("sim:serial", timeout_s=600.0)
    start = time.perf_counter()
    board = rt.predict(x[:LINK_FRAMES], device="fpga", raw=True)
    seconds = time.perf_counter() - start
    emulated = rt.predict(x[:LINK_FRAMES], device="fpga-sim", raw=True)
    return {"frames": LINK_FRAMES, "mismatches": int(np.any(board != emulated, axis=1).sum()),
            "seconds": round(seconds, 1)}


def _bitstream(art: Any) -> dict[str, Any]:
    from kiln.flows import FitError, build_bitstream

    try:
        report = build_bitstream(art.path, BOARD, allow_timing_fail=True,
                                 timeout_s=BITSTREAM_TIMEOUT_S).to_dict()
    except FitError as exc:
        return {"fits": False, "error": str(exc).splitlines()[0]}
    return {"fits": True, "utilisation": report["utilisation"],
            "fmax_mhz": min((c["achieved_mhz"] for c in report["clocks"].values()),
                            default=None),
            "seconds": report["seconds"]}


def measure(name: str, model: Path, out: Path) -> dict[str, Any]:
    """One recipe, end to end (see the module's docstring)."""
    import kiln
    from kiln.verify import verify

    row: dict[str, Any] = {"model": name}
    try:
        start = time.perf_counter()
        art = kiln.compile(model, out / name, io_type="io_stream", reuse_factor="auto",
                           board=BOARD)
        row["compile_s"] = round(time.perf_counter() - start, 1)
        fit = json.loads((art.path / "reports" / "fit.json").read_text())
        row.update(reuse_factors=fit["reuse_factors"], lut_multipliers=fit["lut_multipliers"],
                   estimate=fit["estimate"]["total"], ii=art.manifest.ii,
                   latency=art.manifest.latency)
        x, y = _test_split(art.manifest.input_layout == "channels_first")
        start = time.perf_counter()
        report = verify(art.path, x=x, labels=y, protocol=False)
        row["verify_s"] = round(time.perf_counter() - start, 1)
        row["verify"] = report.to_dict()
        row["metrics"] = json.loads(model.with_suffix(".metrics.json").read_text()) \
            if model.with_suffix(".metrics.json").is_file() else {}
        row.update(_cycles_per_frame(art, x))
        row["driver"] = _through_the_driver(art, x)
        row["ecp5"] = _bitstream(art)
        fmax = row["ecp5"].get("fmax_mhz")
        if fmax:
            row["frames_per_s"] = round(fmax * 1e6 / row["ii_measured"])
    except kiln.KilnError as exc:
        return error_row(exc, **row)
    return row


def run(models: tuple[str, ...], settings: Settings) -> dict[str, Any]:
    """The recipes named in ``models`` (names of RECIPES; the quick run skips them: a LeNet
    bitstream takes hours here)."""
    if settings.quick:
        return {"rows": [], "note": "Not run in the quick bench (a LeNet bitstream takes hours "
                                    "here).", "target_frames_per_s": TARGET_FPS}
    from models import lenet_mnist

    rows = []
    for name in models:
        file = RECIPES[name]
        path = lenet_mnist.HERE / file
        if not path.is_file():
            rows.append({"model": name, "error": f"{path} is not trained"})
            continue
        log.info("lenet: %s", name)
        rows.append(measure(name, path, BUILD / "lenet"))
    return {"rows": rows, "board": BOARD, "target_frames_per_s": TARGET_FPS}


def section(result: dict[str, Any]) -> str:
    """The page section: one row per recipe and how it was measured."""
    head = ["model", "reuse factors (multipliers in logic)", "bit-exact on the test split",
            "accuracy (RTL)", "II stated / measured (cycles a frame)", "latency (cycles)",
            "ECP5 LUT4 / FF / MULT18 / DP16KD", "Fmax MHz", "frames/s", "driver (sim serial)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for r in result["rows"]:
        if "error" in r or "verify" not in r:
            notes.append(f"- `{r['model']}`: not measured: {r.get('error')}")
            continue
        v = r["verify"]
        exact = (f"{v['samples']:,} images: RTL == HLS C-sim == kiln.fixed"
                 + (" == framework" if v["rtl_vs_reference_mismatches"] == 0 else "")
                 if v["rtl_vs_hls_mismatches"] == v["rtl_vs_cpu_mismatches"] == 0
                 else f"**NO**: {v['rtl_vs_hls_mismatches']} vs HLS, "
                      f"{v['rtl_vs_cpu_mismatches']} vs kiln.fixed")
        e = r.get("ecp5", {})
        u = e.get("utilisation", {})

        def used(key: str, u: dict[str, Any] = u) -> str:
            return f"{u[key]['used']:,}" if key in u else "-"

        ecp5 = (" / ".join(used(k) for k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D",
                                              "DP16KD")) if e.get("fits")
                else e.get("error", "not built"))
        fps = r.get("frames_per_s")
        d = r["driver"]
        lines.append("| " + " | ".join([
            r["model"],
            ", ".join(f"{k} {v}" for k, v in r["reuse_factors"].items())
            + (f" ({', '.join(r['lut_multipliers'])})" if r["lut_multipliers"] else ""),
            exact, f"{v['accuracy']:.3f}" if v.get("accuracy") is not None else "-",
            f"{r['ii']:,} / {r['ii_measured']:,.0f}", f"{r['latency']:,}", ecp5,
            f"{e['fmax_mhz']:.1f}" if e.get("fmax_mhz") else "-",
            (f"**{fps:,}**" if fps >= result["target_frames_per_s"] else f"{fps:,} (below "
             f"{result['target_frames_per_s']:,})") if fps else "-",
            f"{d['frames'] - d['mismatches']}/{d['frames']} frames equal fpga-sim"]) + " |")
    return "\n".join([
        "## 9. The LeNet MNIST CNN on the ULX3S 85F",
        "",
        f"`python -m bench.run --only {FAMILY}`: each recipe of [lenet.md](lenet.md) compiled "
        "with `reuse_factor=\"auto\", board=\"ulx3s-85f\"`, `kiln verify` on the 1,000 test "
        f"images, cycles per frame measured in the emulator ({CYCLE_FRAMES[1]} against "
        f"{CYCLE_FRAMES[0]} frames back to back), {LINK_FRAMES} frames through the fpga "
        "device and the simulated serial board, and `kiln bitstream --board ulx3s-85f` "
        "(yosys synth_ecp5, nextpnr-ecp5, ecppack). frames/s = routed Fmax / measured cycles "
        "per frame: a calculation from the routed design, not a measurement on a board.",
        "", *lines, "", *notes, *([result["note"]] if result.get("note") else [])])
