"""kiln beside da4ml (distributed arithmetic, hls4ml's ``distributed_arithmetic`` strategy) on
the same function and the same yosys flow.

For each model the layers without the final softmax are exported (integer weights, biases and
every FixedType with its rounding and overflow), built by da4ml in its own environment
(``.venv-da4ml`` from ``bench/da4ml-requirements.lock``, made on first use: da4ml needs
numpy >= 2, kiln pins numpy < 2) at several pipelining settings, and its Verilog is checked
bit for bit against :func:`kiln.fixed.execute` in Verilator on random input codes. A design
that is not the same function is reported and not compared. kiln's RTL of the same graph
(at each ``adder_levels``) and da4ml's then go through one ``synth_xilinx -family xcup``
script; LUT, FF, carry cells (as yosys names them), latency in cycles and synthesis seconds
are reported side by side, cached by a hash of the Verilog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import BUILD, REPO, Settings, cached, error_text, log, lookup
from bench.hardware import BudgetSpent, _within

FAMILY = "da4ml"
XILINX_FAMILY = "xcup"
VENV = REPO / ".venv-da4ml"
LOCK = REPO / "bench" / "da4ml-requirements.lock"
BUILD_SCRIPT = REPO / "bench" / "da4ml_build.py"
OUT = BUILD / "da4ml"
#: da4ml settings, NAME:TRACE_CUTOFF:LATENCY_CUTOFF:HARD_DC. ``lcN``: N adder levels per
#: pipeline stage (traced with that cutoff, so no adder straddles a register); ``default``:
#: da4ml's command-line defaults (``da4ml convert``: traced unpipelined with
#: ``HWConfig(1, -1, -1)``, ``--delay-constraint 2``, ``--latency-cutoff 5``); ``nocse2``:
#: ``lc2`` with the solver's ``dummy`` method (plain adder trees, no common subexpressions).
DA4ML_SETTINGS = ("lc2:2:2:2", "lc5:5:5:2", "default:-1:5:2", "nocse2:2:2:-1:dummy")
KILN_ADDER_LEVELS = (2, 5)
CHECK_SAMPLES = 4096
#: Seconds of new synthesis one run may start (cached results are always used).
BUDGET_S = 3600.0
TIMEOUT_S = 3600.0
SYNTH_SCRIPT = """\
hierarchy -check -top {top}
synth_xilinx -family xcup -top {top} -flatten -noiopad -run :map_memory
maccmap -unmap
opt
synth_xilinx -family xcup -top {top} -flatten -noiopad -run map_memory:
tee -q -o stat.json stat -json
"""


# -- export -------------------------------------------------------------------------------

def _type(t: Any) -> dict[str, Any]:
    return {"width": t.width, "integer": t.integer, "signed": bool(t.signed),
            "rounding": t.rounding, "overflow": t.overflow, "text": str(t)}


def without_softmax(graph: Any) -> Any:
    """``graph`` without a final Softmax (da4ml has no softmax; both sides stop before it)."""
    from kiln.ir import Softmax

    nodes = graph.nodes[:-1] if isinstance(graph.nodes[-1], Softmax) else graph.nodes
    return dataclasses.replace(graph, nodes=tuple(nodes))


def export_layers(graph: Any) -> dict[str, Any]:
    """The graph's layers as plain data for da4ml: input type and shape, and each Dense
    (weight and bias codes, weight / bias / accumulator / output types), ReLU and Cast.

    Raises:
        ValueError: a node kind this comparison does not cover (only Dense, ReLU and Cast
            chains, unfolded: reuse factor 1).
    """
    from kiln.ir import Cast, Dense, Input, Relu

    layers: list[dict[str, Any]] = []
    for node in graph.nodes:
        if isinstance(node, Input):
            continue
        if isinstance(node, Dense):
            if node.reuse_factor != 1:
                raise ValueError(f"{node.name}: reuse factor {node.reuse_factor}, not 1")
            layers.append({
                "kind": "dense", "name": node.name,
                "weight": np.asarray(node.weight, dtype=np.int64).tolist(),
                "bias": np.asarray(node.bias, dtype=np.int64).tolist(),
                "weight_type": _type(node.weight_type), "bias_type": _type(node.bias_type),
                "accum_type": _type(node.accum_type), "out_type": _type(node.out_type)})
        elif isinstance(node, Relu | Cast):
            layers.append({"kind": node.kind, "name": node.name,
                           "out_type": _type(node.out_type)})
        else:
            raise ValueError(f"{node.name}: {node.kind} layers are not part of this comparison")
    return {"name": graph.name, "layers": layers,
            "input": {"shape": list(graph.input.shape), "type": _type(graph.input.out_type)}}


# -- da4ml's environment --------------------------------------------------------------------

def ensure_venv() -> Path:
    """The da4ml environment's python, made from the lock file if absent or stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".lock-sha256"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return python
    log.info("da4ml: creating %s from %s", VENV, LOCK.name)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-r", str(LOCK)],
                   check=True)
    stamp.write_text(want + "\n")
    return python


def build_da4ml(export: dict[str, Any], out: Path, settings: tuple[str, ...]
                ) -> dict[str, dict[str, Any]]:
    """da4ml's Verilog for each setting under ``out/<setting>/`` and its metadata; rebuilt
    only when the export, the settings or the build script changed."""
    key = hashlib.sha256(json.dumps([export, settings], sort_keys=True).encode()
                         + BUILD_SCRIPT.read_bytes() + LOCK.read_bytes()).hexdigest()
    stamp = out / "export.sha256"
    names = [s.split(":")[0] for s in settings]
    if not (stamp.is_file() and stamp.read_text().strip() == key):
        out.mkdir(parents=True, exist_ok=True)
        (out / "export.json").write_text(json.dumps(export) + "\n")
        python = ensure_venv()
        subprocess.run([str(python), str(BUILD_SCRIPT), str(out / "export.json"), str(out),
                        *settings], check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        stamp.write_text(key + "\n")
    return {n: json.loads((out / n / "da4ml.json").read_text()) for n in names}


def da4ml_sources(design_dir: Path) -> list[Path]:
    """da4ml's Verilog of one setting: the pipeline, its stages and its static modules."""
    return sorted((design_dir / "src").glob("*.v")) + sorted(
        (design_dir / "src" / "static").glob("*.v"))


# -- bit-exactness in Verilator -----------------------------------------------------------

HARNESS = r"""
#include <cstdint>
#include <cstdio>
#include <vector>
#include "verilated.h"
#include "Vmodel_wrapper.h"

template <typename T> static void put(T &port, int lsb, int width, uint64_t v) {
    for (int b = 0; b < width; ++b) {
        T bit = (T)((v >> b) & 1u);
        port = (T)((port & ~((T)1 << (lsb + b))) | (bit << (lsb + b)));
    }
}
template <std::size_t N> static void put(VlWide<N> &port, int lsb, int width, uint64_t v) {
    for (int b = 0; b < width; ++b) {
        int i = lsb + b;
        uint32_t m = 1u << (i % 32);
        port[i / 32] = ((v >> b) & 1u) ? (port[i / 32] | m) : (port[i / 32] & ~m);
    }
}
template <typename T> static uint64_t get(const T &port, int lsb, int width) {
    uint64_t v = 0;
    for (int b = 0; b < width; ++b) v |= (uint64_t)((port >> (lsb + b)) & 1u) << b;
    return v;
}
template <std::size_t N> static uint64_t get(const VlWide<N> &port, int lsb, int width) {
    uint64_t v = 0;
    for (int b = 0; b < width; ++b) {
        int i = lsb + b;
        v |= (uint64_t)((port[i / 32] >> (i % 32)) & 1u) << b;
    }
    return v;
}

// stdin: N_IN IN_BW N_OUT OUT_BW SAMPLES EXTRA, then SAMPLES * N_IN field values (unsigned);
// stdout: (SAMPLES + EXTRA) * N_OUT field values, one row per clock edge
int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    int n_in, in_bw, n_out, out_bw, samples, extra;
    if (scanf("%d %d %d %d %d %d", &n_in, &in_bw, &n_out, &out_bw, &samples, &extra) != 6)
        return 2;
    std::vector<uint64_t> x((size_t)samples * n_in);
    for (auto &v : x) if (scanf("%lu", &v) != 1) return 2;
    Vmodel_wrapper top;
#ifdef KILN_PIPELINED
    top.clk = 0;
#endif
    for (int t = 0; t < samples + extra; ++t) {
        int s = t < samples ? t : samples - 1;
        for (int j = 0; j < n_in; ++j)
            put(top.model_inp, j * in_bw, in_bw, x[(size_t)s * n_in + j]);
#ifdef KILN_PIPELINED
        top.eval(); top.clk = 1; top.eval(); top.clk = 0; top.eval();
#else
        top.eval();
#endif
        for (int j = 0; j < n_out; ++j)
            printf("%lu%c", get(top.model_out, j * out_bw, out_bw), j + 1 == n_out ? '\n' : ' ');
    }
    return 0;
}
"""


def _verilate(design_dir: Path, meta: dict[str, Any]) -> Path:
    """The Verilated ``model_wrapper`` with the harness (built once per design)."""
    from kiln.tools import find_verilator

    obj = design_dir / "obj_check"
    exe = obj / "Vmodel_wrapper"
    key = "\n".join(synth_key(da4ml_sources(design_dir), "model_wrapper")[2:3]) + HARNESS
    stamp = obj / "sources.sha256"
    digest = hashlib.sha256(key.encode()).hexdigest()
    if exe.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return exe
    obj.mkdir(exist_ok=True)
    (obj / "harness.cpp").write_text(HARNESS)
    verilator = find_verilator()
    flags = ["-CFLAGS", "-DKILN_PIPELINED"] if meta["stages"] else []
    env = verilator.env()
    cmd = [str(verilator.executable), "--cc", "--exe", "-O1", "-Wno-fatal", "-Wno-lint",
           "-Wno-style", "--top-module", "model_wrapper", "-Mdir", str(obj),
           "-CFLAGS", "-O1", *flags, str(obj / "harness.cpp"),
           *[str(p) for p in da4ml_sources(design_dir)]]
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    subprocess.run(["make", "-s", "-C", str(obj), "-f", "Vmodel_wrapper.mk", "Vmodel_wrapper",
                    *verilator.make_overrides], check=True, capture_output=True, text=True,
                   env=env)
    stamp.write_text(digest + "\n")
    return exe


def check_bit_exact(graph: Any, design_dir: Path, meta: dict[str, Any], samples: int,
                    seed: int = 0) -> dict[str, Any]:
    """Run da4ml's Verilog on ``samples`` random input codes in Verilator and compare every
    output code with :func:`kiln.fixed.execute`. Returns the counts and, on a mismatch, the
    first differing sample."""
    import torch

    from kiln.fixed import execute

    t_in, t_out = graph.input.out_type, graph.output.out_type
    rng = np.random.default_rng(seed)
    codes = rng.integers(t_in.min_code, t_in.max_code + 1,
                         size=(samples, graph.input.size), dtype=np.int64)
    want = execute(graph, torch.from_numpy(codes))["output"].numpy()
    lin, lout = meta["input"], meta["output"]
    in_shift = lin["frac"] - t_in.frac  # field LSB weight 2**-frac: code * 2**shift
    fields = [(int(c) << in_shift if in_shift >= 0 else int(c) >> -in_shift)
              & ((1 << lin["bw"]) - 1) for c in codes.ravel()]
    latency = meta["latency"]
    extra = latency + 2
    text = " ".join(map(str, [lin["n"], lin["bw"], lout["n"], lout["bw"], samples, extra,
                              *fields]))
    exe = _verilate(design_dir, meta)
    run = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True)
    rows = np.array([[int(v) for v in line.split()] for line in run.stdout.splitlines()],
                    dtype=object)
    bw = lout["bw"]
    sign = np.array(lout["signed"], dtype=bool) if len(lout["signed"]) == lout["n"] else \
        np.ones(lout["n"], dtype=bool)
    signed_rows = np.where(sign & (rows >= (1 << (bw - 1))), rows - (1 << bw), rows)
    out_shift = t_out.frac - lout["frac"]
    if out_shift < 0:
        raise ValueError(f"da4ml output has {lout['frac']} fraction bits, kiln's type "
                         f"{t_out} only {t_out.frac}")
    got_all = (signed_rows * (1 << out_shift)).astype(np.int64)

    def mismatches(lat: int) -> int:
        start = max(lat - 1, 0)  # row t is the output after clock edge t + 1
        got = got_all[start:start + samples]
        return int((got != want).any(axis=1).sum()) if len(got) == samples else samples

    bad = mismatches(latency)
    result: dict[str, Any] = {"samples": samples, "mismatched_samples": bad,
                              "bit_exact": bad == 0, "latency_checked": latency}
    if bad:
        lat = min(range(0, extra), key=mismatches)
        result["best_latency"] = lat
        result["mismatched_at_best_latency"] = mismatches(lat)
        start = max(latency - 1, 0)
        got = got_all[start:start + samples]
        first = int(np.argmax((got != want).any(axis=1)))
        result["first_mismatch"] = {"input": codes[first].tolist(),
                                    "kiln_fixed": want[first].tolist(),
                                    "da4ml": got[first].tolist()}
    return result


# -- synthesis ----------------------------------------------------------------------------

def _cells(stat: dict[str, Any], top: str) -> dict[str, int]:
    modules = stat["modules"]
    cells = modules.get(f"\\{top}") or modules[top]
    return {k.lstrip("\\$"): int(v) for k, v in cells["num_cells_by_type"].items()}


def summarize(cells: dict[str, int]) -> dict[str, Any]:
    """LUT, FF and carry-cell totals of a ``synth_xilinx`` cell count; carry cells keep the
    name yosys gives them (CARRY4 for -family xcup in yosys 0.5x-0.7x)."""
    carry = {k: v for k, v in cells.items() if k.startswith("CARRY")}
    return {"LUT": sum(v for k, v in cells.items() if k.startswith("LUT")),
            "FF": sum(v for k, v in cells.items() if k.startswith("FD")),
            "carry": sum(carry.values()), "carry_cells": sorted(carry) or ["CARRY4"],
            "DSP": sum(v for k, v in cells.items() if k.startswith("DSP")),
            "cells": cells}


def synth_key(sources: list[Path], top: str) -> tuple[str, ...]:
    """The cache key: the Verilog's content (names and text), the script and yosys's version."""
    from kiln.tools import require_tool

    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return (XILINX_FAMILY, top, digest.hexdigest(), SYNTH_SCRIPT, require_tool("yosys").version)


def synthesize(sources: list[Path], top: str, workdir: Path, timeout_s: float
               ) -> dict[str, Any]:
    """``synth_xilinx -family xcup -flatten -noiopad`` of ``sources`` (top ``top``), as kiln's
    estimate flow runs it; the cell counts and the wall seconds."""
    from kiln.tools import require_tool

    workdir.mkdir(parents=True, exist_ok=True)
    work = workdir
    # relative paths: YoWASP's yosys sees the working folder's tree, not every host path
    reads = [f'read_verilog -defer "{os.path.relpath(p.resolve(), work.resolve())}"'
             for p in sources]
    (workdir / "synth.ys").write_text("\n".join(reads) + "\n" + SYNTH_SCRIPT.format(top=top))
    yosys = require_tool("yosys")
    start = time.perf_counter()
    subprocess.run([str(yosys.path), "-q", "-l", "synth.log", "-s", "synth.ys"], cwd=workdir,
                   check=True, timeout=timeout_s, capture_output=True)
    seconds = time.perf_counter() - start
    stat = json.loads((workdir / "stat.json").read_text())
    return {**summarize(_cells(stat, top)), "seconds": round(seconds, 1),
            "yosys": yosys.version}


# -- the family ---------------------------------------------------------------------------

def load_graph(model: Any) -> Any:
    """The model's kiln IR: the compiled artifact's ``kiln_ir.json`` (compiled if absent)."""
    from kiln.ir._serialize import graph_from_dict

    ir = model.build_dir / "model" / "kiln_ir.json"
    if not ir.is_file():
        model.compile()
    return graph_from_dict(json.loads(ir.read_text()))


def kiln_rtl(graph: Any, levels: int, out: Path) -> tuple[list[Path], int]:
    """kiln's Verilog of ``graph`` at ``levels`` adder levels per stage (where this kiln
    has the option) in ``out/<hash of the Verilog>/`` (so a run never rewrites files that
    another run's synthesis reads), and its latency in cycles."""
    import tempfile

    import kiln.ir
    from kiln.rtl import emit_rtl, write_rtl

    with_levels = getattr(kiln.ir, "with_adder_levels", None)
    if with_levels is None and levels != 2:
        raise ValueError("this kiln has no adder_levels option")
    design = emit_rtl(with_levels(graph, levels) if with_levels else graph)
    digest = hashlib.sha256()
    for name in sorted(design.files):
        digest.update(name.encode() + b"\0" + design.files[name].encode() + b"\0")
    final = out / digest.hexdigest()[:16]
    if not final.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out))
        write_rtl(design, staging)
        staging.rename(final)
    return sorted(final.glob("*.v")), int(design.meta.latency)


def _sha(sources: list[Path]) -> str:
    return synth_key(sources, "")[2][:16]


def _synth_row(row: dict[str, Any], sources: list[Path], top: str, work: Path,
               deadline: float) -> dict[str, Any]:
    key = synth_key(sources, top)
    row["rtl_sha256"] = key[2][:16]
    try:
        result, row["cached"] = cached("da4ml_synth", key, _within(
            deadline, TIMEOUT_S, lambda t: synthesize(sources, top, work, t)))
    except (BudgetSpent, subprocess.SubprocessError, OSError) as exc:
        row["synth_error"] = error_text(exc)
        return row
    row.update({k: result[k] for k in ("LUT", "FF", "carry", "carry_cells", "DSP")})
    row["synth_s"] = result["seconds"]
    if row["LUT"] > ECP5_MAX_LUT6:
        row["ecp5"] = {"error": f"not attempted: {row['LUT']:,} LUT6, above the "
                       f"{ECP5_MAX_LUT6:,} up to which this family places and routes"}
        return row
    try:
        row["ecp5"], _ = cached("da4ml_ecp5", (*key[1:3], ECP5_FLOW), _within(
            deadline, TIMEOUT_S, lambda t: place_and_route(sources, top, work.parent / "ecp5",
                                                           t)))
    except (BudgetSpent, subprocess.SubprocessError, OSError, ValueError) as exc:
        row["ecp5"] = {"error": error_text(exc)}
    return row


#: Designs up to this many LUT6 (synth_xilinx) are also placed and routed on ECP5.
ECP5_MAX_LUT6 = 8_000
ECP5_FLOW = ("synth_ecp5 -top {top} -json design.json; "
             "nextpnr-ecp5 --85k --package CABGA381 --out-of-context --timing-allow-fail "
             "--freq 100")


def place_and_route(sources: list[Path], top: str, work: Path, timeout_s: float
                    ) -> dict[str, Any]:
    """ECP5 (LFE5U-85F) out of context: ``synth_ecp5`` then ``nextpnr-ecp5 --out-of-context``
    (no I/O buffers: the design's ports need not fit a package) at a 100 MHz target; the
    LUT4 and FF used and the Fmax nextpnr reports."""
    from kiln.tools import require_tool

    work.mkdir(parents=True, exist_ok=True)
    # relative paths: YoWASP's yosys sees the working folder's tree, not every host path
    reads = [f'read_verilog -defer "{os.path.relpath(p.resolve(), work.resolve())}"'
             for p in sources]
    (work / "ecp5.ys").write_text("\n".join(reads) + f"\nhierarchy -check -top {top}\n"
                                  f"synth_ecp5 -top {top} -json design.json\n")
    start = time.perf_counter()
    subprocess.run([str(require_tool("yosys").path), "-q", "-l", "ecp5.log", "-s", "ecp5.ys"],
                   cwd=work, check=True, timeout=timeout_s, capture_output=True)
    left = timeout_s - (time.perf_counter() - start)
    subprocess.run([str(require_tool("nextpnr-ecp5").path), "--85k", "--package", "CABGA381",
                    "--out-of-context", "--timing-allow-fail", "--freq", "100",
                    "--json", "design.json", "--report", "report.json",
                    "--log", "nextpnr.log", "-q"], cwd=work, check=True, timeout=left,
                   capture_output=True)
    report = json.loads((work / "report.json").read_text())
    util = report.get("utilization", {})
    fmax = [c.get("achieved") for c in report.get("fmax", {}).values()]
    return {"fmax_mhz": round(min(f for f in fmax if f), 1) if any(fmax) else None,
            "TRELLIS_COMB": util.get("TRELLIS_COMB", {}).get("used"),
            "TRELLIS_FF": util.get("TRELLIS_FF", {}).get("used"),
            "seconds": round(time.perf_counter() - start, 1)}


def measure(model: Any, settings: tuple[str, ...], levels: tuple[int, ...], samples: int,
            deadline: float) -> list[dict[str, Any]]:
    """One model's rows: da4ml at each setting (checked bit for bit first) and kiln at each
    adder_levels, synthesized in the order da4ml, kiln per pipelining depth."""
    name = model.name
    try:
        graph = without_softmax(load_graph(model))
        export = export_layers(graph)
        metas = build_da4ml(export, OUT / name, settings)
    except Exception as exc:  # a model this comparison cannot run: say why, go on
        log.warning("da4ml: %s: %s", name, exc)
        return [{"model": name, "error": error_text(exc)}]
    export_sha = hashlib.sha256(json.dumps(export, sort_keys=True).encode()).hexdigest()
    plan: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    checked: dict[str, dict[str, Any]] = {}
    for setting, meta in metas.items():
        design = OUT / name / setting
        sources = da4ml_sources(design)

        def da4ml_row(setting: str = setting, meta: dict[str, Any] = meta,
                      design: Path = design, sources: list[Path] = sources) -> dict[str, Any]:
            sha = _sha(sources)
            row: dict[str, Any] = {
                "model": name, "design": "da4ml", "setting": setting,
                "latency": meta["latency"], "latency_cutoff": meta["latency_cutoff"],
                "hard_dc": meta["hard_dc"], "method0": meta.get("method0", "default"),
                "da4ml_estimated_lut": meta["estimated_lut"],
                "build_s": meta["seconds"]}
            key = synth_key(sources, "model")
            if lookup("da4ml_synth", key) is None and time.monotonic() >= deadline:
                row["synth_error"] = ("BudgetSpent: not run: this run's tool budget was spent; "
                                      "the next run of this family adds it (tool results "
                                      "are cached)")
                return row  # nothing to compare: the bit-exactness check waits too
            if sha not in checked:
                check_key = (key[2], export_sha, str(samples), HARNESS)
                try:
                    checked[sha] = cached("da4ml_check", check_key, lambda: check_bit_exact(
                        graph, design, meta, samples))[0]
                except (subprocess.SubprocessError, OSError, ValueError) as exc:
                    checked[sha] = {"bit_exact": False, "error": error_text(exc)}
            row["check"] = checked[sha]
            if not checked[sha]["bit_exact"]:
                log.error("da4ml: %s %s is NOT the same function as kiln.fixed: %s", name,
                          setting, checked[sha])
                row["error"] = ("not compared: da4ml's Verilog differs from kiln.fixed "
                                f"({checked[sha]})")
                return row
            return _synth_row(row, sources, "model", design / "synth", deadline)
        plan.append((f"da4ml {setting}", da4ml_row))
    for lv in levels:
        def kiln_row(lv: int = lv) -> dict[str, Any]:
            row: dict[str, Any] = {"model": name, "design": "kiln",
                                   "setting": f"adder_levels={lv}"}
            try:
                sources, row["latency"] = kiln_rtl(graph, lv, OUT / name / f"kiln_L{lv}")
            except Exception as exc:  # e.g. an older kiln without the option
                row["error"] = error_text(exc)
                return row
            return _synth_row(row, sources, "kiln_top", sources[0].parent / "synth", deadline)
        plan.append((f"kiln L{lv}", kiln_row))
    # the comparisons at equal depth first, then da4ml's default and its no-CSE variant
    first = ("da4ml lc2", "kiln L2", "da4ml lc5", "kiln L5")
    order = sorted(plan, key=lambda p: first.index(p[0]) if p[0] in first else len(first))
    rows = []
    for label, make in order:
        log.info("da4ml: %s: %s", name, label)
        rows.append(make())
    return rows


def _size(model: Any) -> int:
    """A rough size of the model's design (nonzero weight bits), for ordering; models not
    compiled yet last."""
    ir = model.build_dir / "model" / "kiln_ir.json"
    if not ir.is_file():
        return 1 << 62
    layers = json.loads(ir.read_text())["nodes"]
    return sum(int(np.count_nonzero(np.asarray(n["weight"]))) * int(
        n["weight_type"].split("<")[1].split(",")[0]) for n in layers if n["kind"] == "dense")


def kiln_source() -> dict[str, Any]:
    """The kiln commit the kiln rows were emitted from, and its files changed since (the
    RTL emitter may be mid-change: each row also carries its Verilog's hash)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "sw/kiln").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted": changed}


def run(models: tuple[Any, ...], settings: Settings) -> dict[str, Any]:
    from bench.models import DIGITS, JET_FLOAT, JET_PRUNED70, JET_PRUNED95, JET_QKERAS6

    wanted = (JET_QKERAS6, JET_FLOAT, JET_PRUNED70, JET_PRUNED95, DIGITS)
    names = {m.name for m in models}
    chosen = tuple(m for m in wanted if m.name in names) or models
    if settings.quick:
        chosen, da4ml_settings, samples = models, DA4ML_SETTINGS[:1], 256
    else:
        da4ml_settings, samples = DA4ML_SETTINGS, CHECK_SAMPLES
    budget = settings.budget(120.0 if settings.quick else BUDGET_S)
    deadline = time.monotonic() + budget
    # smallest designs first, so the budget buys as many results as it can; the table keeps
    # the models' own order
    measured = {m.name: measure(m, da4ml_settings, KILN_ADDER_LEVELS, samples, deadline)
                for m in sorted(chosen, key=_size)}
    rows = [r for m in chosen for r in measured[m.name]]
    versions = {}
    stamp = next(OUT.glob("*/*/da4ml.json"), None)
    if stamp is not None:
        versions = json.loads(stamp.read_text()).get("versions", {})
    return {"rows": rows, "kiln_source": kiln_source(),
            "xilinx_family": XILINX_FAMILY, "synth_script": SYNTH_SCRIPT,
            "da4ml_settings": list(da4ml_settings), "kiln_adder_levels": list(KILN_ADDER_LEVELS),
            "check_samples": samples, "budget_s": budget, "da4ml_versions": versions,
            "ecp5": "not run: see the section's note"}


# -- the page -----------------------------------------------------------------------------

ECP5_NOTE = (
    "ECP5: designs up to 8,000 LUT6 in the Xilinx synthesis are also placed and routed out "
    "of context on the LFE5U-85F (`synth_ecp5`, then `nextpnr-ecp5 --85k --out-of-context "
    "--timing-allow-fail --freq 100`: no I/O buffers, so a design's wide ports need no "
    "package pins; Fmax as "
    "nextpnr reports it). Larger ones are not: nextpnr-ecp5 runs in WebAssembly on one "
    "thread here, and kiln's hardware family found a 42k-LUT design not through placement "
    "in 72 minutes.")


def _ecp5_cell(e: dict[str, Any] | None) -> str:
    if not e:
        return "-"
    if "error" in e:
        return "not run" if e["error"].startswith("not attempted") else "failed"
    used = [_fmt(e.get(k)) for k in ("TRELLIS_COMB", "TRELLIS_FF", "fmax_mhz")]
    return " / ".join(used)


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))


def _source(src: dict[str, Any] | None) -> str:
    if not src:
        return "an unrecorded commit"
    dirty = src.get("uncommitted") or []
    return f"commit {src['commit']}" + (
        f" with uncommitted changes to {len(dirty)} files under sw/kiln (the emitter being "
        "rewritten; each row's Verilog hash is in the result file)" if dirty else "")


def _ratios(rows: list[dict[str, Any]]) -> str:
    """kiln's LUT, FF and carry cells and latency over da4ml's, for each model and depth
    where both were measured (kiln ``adder_levels=N`` against da4ml ``lcN``)."""
    by = {(r["model"], r.get("design"), r.get("setting")): r for r in rows}
    out = []
    for (model, design, setting), k in by.items():
        if design != "kiln" or "LUT" not in k:
            continue
        levels = setting.split("=")[-1]
        d = by.get((model, "da4ml", f"lc{levels}"))
        if d is None or "LUT" not in d:
            continue
        out.append([f"`{model}`", levels] + [f"{k[c] / d[c]:.2f}" if d[c] else "-"
                                              for c in ("LUT", "FF", "carry")]
                   + [f"{k['latency']} vs {d['latency']}"])
    if not out:
        return ""
    head = ["model", "adder levels per stage", "LUT", "FF", "carry", "latency kiln vs da4ml"]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in out])


def section(result: dict[str, Any]) -> str:
    """The page section: the side-by-side table and how it was measured."""
    rows = result["rows"]
    m = result["machine"]
    versions = result.get("da4ml_versions", {})
    carry = sorted({c for r in rows for c in r.get("carry_cells", [])}) or ["CARRY4"]
    head = ["model", "design", "pipelining", "latency (cycles)", "LUT", "FF",
            "/".join(carry), "synthesis s", f"bit-exact ({result['check_samples']:,} random "
            "inputs)", "ECP5 LUT4 / FF / Fmax MHz"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for r in rows:
        if r.get("design") is None:
            notes.append(f"- `{r['model']}`: not measured: {r.get('error')}")
            continue
        if r["design"] == "da4ml":
            c = r.get("check", {})
            bad = c.get("mismatched_samples", c.get("error"))
            exact = ("not checked (not synthesized)" if not c else
                     "yes" if c.get("bit_exact") else f"**NO** ({bad} differ)")
            setting = (f"{r['setting']}: latency_cutoff {r['latency_cutoff']:g}, "
                       f"hard_dc {r['hard_dc']}"
                       + (", no CSE" if r.get("method0") == "dummy" else ""))
        else:
            exact, setting = "kiln's own suite", r["setting"]
        if "synth_error" in r or "error" in r:
            why = r.get("synth_error") or r.get("error")
            notes.append(f"- `{r['model']}` {r['design']} {r['setting']}: not synthesized: {why}")
        ecp5_error = r.get("ecp5", {}).get("error", "")
        if ecp5_error and not ecp5_error.startswith("not attempted"):
            notes.append(f"- `{r['model']}` {r['design']} {r['setting']}: ECP5: {ecp5_error}")
        lines.append("| " + " | ".join([
            f"`{r['model']}`", r["design"], setting, _fmt(r.get("latency")), _fmt(r.get("LUT")),
            _fmt(r.get("FF")), _fmt(r.get("carry")),
            "-" if r.get("synth_s") is None else f"{r['synth_s']:.0f}",
            exact, _ecp5_cell(r.get("ecp5"))]) + " |")
    tools = m.get("tools", {})
    about = (
        f"_Measured {result['date']} by `{result['command']}` on {m['cpu']} ({m['cores']} "
        f"cores, shared with other jobs: load average {m['load_average_1m']} at the end); "
        f"da4ml {versions.get('da4ml', '?')} (numpy {versions.get('numpy', '?')}, quantizers "
        f"{versions.get('quantizers', '?')}) in its own environment from "
        f"`bench/da4ml-requirements.lock`; kiln {tools.get('kiln', '?')} at "
        f"{_source(result.get('kiln_source'))}; yosys "
        f"{tools.get('yosys', '?')}; Verilator {tools.get('verilator', '?')}. Synthesis seconds "
        "are wall time of one yosys process on this loaded machine (cached rows: the run "
        "that measured them)._")
    how = (
        "Both sides build the same function: the model's layers without the final softmax, "
        "with kiln's integer weights and biases and every FixedType (accumulators wrap; each "
        "cast rounds and overflows as its type says: RND_CONV is rebuilt in da4ml as "
        "round-half-up plus the kept LSB's correction). `bench/da4ml_build.py` traces it "
        "with da4ml's `FixedVariableArrayInput` and numpy matrix products (each Dense one "
        "constant matrix-vector product, solved by da4ml's distributed arithmetic with its "
        "common-subexpression search) and writes Verilog with `VerilogModel`; `lcN` is "
        "`latency_cutoff = N` (N adder levels per pipeline stage, also the tracing cutoff), "
        "`default` is `da4ml convert`'s defaults (traced unpipelined, `latency_cutoff` 5, "
        "`hard_dc` 2), `nocse2` is `lc2` with the solver's `dummy` method (plain adder "
        "trees, no common-subexpression search). Every da4ml design is run in Verilator on "
        "random input codes over the "
        "whole input type and compared code for code with `kiln.fixed.execute`, at the "
        "latency da4ml states; one that differs is reported and not compared. kiln's side is "
        "`kiln.rtl.emit_rtl` of the same graph at each `adder_levels`. Both go through one "
        "yosys script, `synth_xilinx -family xcup -flatten -noiopad` as kiln's estimate flow "
        "runs it (`maccmap -unmap` between the two halves), counted from `stat -json`: LUT "
        "is every LUT1-6, FF every FD*, carry cells as yosys names them. Results are cached "
        "by a hash of the Verilog, so a row is re-measured only when that Verilog changes.")
    parts = ["## 8. kiln beside da4ml (same function, same yosys flow)", about, how,
             "\n".join(lines)]
    ratios = _ratios(rows)
    if ratios:
        parts.append("kiln ÷ da4ml at the same adder levels per stage (below 1: kiln smaller):")
        parts.append(ratios)
    if notes:
        parts.append("\n".join(notes))
    parts.append(ECP5_NOTE)
    return "\n\n".join(parts)
