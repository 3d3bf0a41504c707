"""Render the result files into the benchmarks page (Markdown tables) with matplotlib plots
beside them. Reads only ``<results>/*.json``; every number on the page comes from there."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import da4ml_compare, gpu, lenet
from bench.common import REPO, Output, read_results

Row = dict[str, Any]


def _table(head: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _errors(rows: list[Row]) -> list[str]:
    return [f"- `{r.get('model', '?')}`{' on ' + r['device'] if 'device' in r else ''}: "
            f"not measured: {r['error']}" for r in rows if "error" in r]


def _about(result: Row) -> str:
    mode = " (quick mode)" if result.get("quick") else ""
    return (f"_Measured {result['date']} by `{result['command']}`{mode} in "
            f"{result['seconds']:.0f} s; load average at the end "
            f"{result['machine']['load_average_1m']}._")


def _figure(out: Output, name: str, draw: Callable[[Any], None], size: tuple[float, float],
            ) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size)
    draw(fig)
    fig.tight_layout()
    out.images.mkdir(parents=True, exist_ok=True)
    path = out.images / f"bench_{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return f"![{name}]({path.relative_to(out.page.parent).as_posix()})"


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], ylabel: str,
          log: bool = True) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels, rotation=20,
                  ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def machine_section(result: Row) -> str:
    m = result["machine"]
    rows = [["CPU", m["cpu"]], ["cores", m["cores"]], ["memory", f"{m['memory_gib']} GiB"],
            ["OS", m["os"]], ["Python", m["python"]], ["GPU", m["gpu"] or "none"]]
    rows += [[tool, version] for tool, version in m["tools"].items()]
    return "## Machine\n\n" + _table(["", ""], rows)


def throughput_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]
    engines = result["engines"]
    table = _table(
        ["model", "samples", *[f"{e} (samples/s)" for e in engines],
         *[f"{e} / anchor" for e in engines if e != result["anchor"]],
         "kiln.fixed cpu / framework", "mismatches vs emulator (C sim, kiln.fixed)",
         "framework vs emulator"],
        [[r["model"], r["samples"], *[_num(r["samples_per_s"][e]) for e in engines],
          *[_ratio(r["ratio_vs_anchor"][e]) for e in engines if e != result["anchor"]],
          _ratio(r.get("cpu_vs_framework")),
          ", ".join(str(v) for v in r["mismatches_vs_emulator"].values()),
          (f"{r['framework_mismatches']} mismatches" if r["framework_mismatches"] is not None
           else f"not bit-exact by design; max {r['framework_max_lsb']} LSB")]
         for r in rows])
    figure = ""
    if rows:
        figure = _figure(out, "throughput", lambda fig: _bars(
            fig.add_subplot(), [r["model"] for r in rows],
            {e: [r["samples_per_s"][e] for r in rows] for e in engines}, "samples / s"),
            (8, 4))
    return "\n\n".join(filter(None, [
        "## 1. Verification throughput",
        f"Samples per second through each engine on the same inputs in one run (best of "
        f"{result['repeats']}); the anchor is **{result['anchor']}**, hls4ml's "
        "`ModelGraph.predict` (a C++ library called sample by sample). The digits models run "
        "their test split (repeated); the jet models run random codes over the whole input "
        "type. Every engine's integer codes are compared with the emulator's.",
        _about(result), table, "\n".join(_errors(result["rows"])), figure]))


def compile_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]
    protocol = ("; the cocotb protocol bench on 300" if all(r.get("protocol_bench", True)
                                                           for r in rows)
                else "; no cocotb protocol bench in quick mode")
    table = _table(
        ["model", "kiln.compile (s)", "emulator build (s)", "kiln verify (s)",
         "kiln total (s)", "hls4ml write+compile (s)", "kiln / hls4ml", "verified",
         "latency (cycles)", "II"],
        [[r["model"], _num(r["kiln_compile_s"], 1), _num(r["emulator_build_s"], 1),
          _num(r["verify_s"], 1), _num(r["kiln_total_s"], 1), _num(r["hls4ml_s"], 1),
          _ratio(r["ratio_vs_hls4ml"]), "yes" if r["verified"] else "NO",
          r["latency_cycles"], r["ii"]] for r in rows])

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        labels = [r["model"] for r in rows]
        bottom = [0.0] * len(rows)
        for key, name in (("kiln_compile_s", "kiln.compile"),
                          ("emulator_build_s", "emulator build"), ("verify_s", "kiln verify")):
            values = [r[key] for r in rows]
            ax.bar([x - 0.2 for x in range(len(rows))], values, 0.4, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.bar([x + 0.2 for x in range(len(rows))], [r["hls4ml_s"] for r in rows], 0.4,
               label="hls4ml write+compile", color="grey")
        ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("seconds")
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)

    figure = _figure(out, "compile_time", draw, (8, 4)) if rows else ""
    return "\n\n".join(filter(None, [
        "## 2. Compile time",
        "From the model file to verified RTL with a built emulator, nothing reused: "
        "`kiln.compile(force=True)` (hls4ml conversion, HLS C simulation build, IR, Verilog), "
        "the Verilator emulator build (its cache removed; only Verilator's model-independent "
        f"runtime objects are reused) and `kiln verify` on {result['verify_samples']} samples "
        "(Verilator bulk against HLS C sim, kiln.fixed and the framework; Icarus on 200"
        f"{protocol}). The anchor is hls4ml's own convert + write + compile "
        "of the same model with the same configuration. kiln.compile contains that hls4ml "
        "step (kiln keeps the C simulation as its HLS reference), so the ratio is at least 1 "
        "by construction; the columns show where the rest goes.",
        _about(result), table, "\n".join(_errors(result["rows"])), figure]))


def _published(p: Row) -> str:
    if p.get("source") == "not found":
        return "not found"
    values = ", ".join(f"{k} {v}" for k, v in p.items() if k != "source")
    return f"{values} ({p['source']})"


def hardware_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]
    synthesised = [r for r in rows if "xilinx" in r]

    def xilinx(r: Row, key: str) -> str:
        return _num(r["xilinx"][key]) if "xilinx" in r else "not run"

    def ecp5(r: Row, key: str) -> str:
        e = r.get("ecp5")
        if e is None:
            return "-"
        if e["fits"] is None:
            return "not run"
        if not e["fits"]:
            return "does not fit"
        u = e["utilisation"].get(key)
        return "-" if u is None else f"{u['used']:,} / {u['available']:,}"

    def fmax(r: Row) -> str:
        e = r.get("ecp5")
        return _num(e.get("fmax_mhz"), 1) if e and e["fits"] else "-"

    table = _table(
        ["model", "latency (cycles)", "II", "LUT", "FF", "DSP", "CARRY8",
         "ECP5 LUT4", "ECP5 FF", "ECP5 MULT18", "ECP5 Fmax (MHz)", "hls4ml published"],
        [[r["model"], r["latency_cycles"], r["ii"], *[xilinx(r, k) for k in
                                                      ("LUT", "FF", "DSP", "CARRY")],
          ecp5(r, "TRELLIS_COMB"), ecp5(r, "TRELLIS_FF"), ecp5(r, "MULT18X18D"), fmax(r),
          _published(r["published"])] for r in rows])
    notes = [f"- `{r['model']}` synth_xilinx: {r['xilinx_error']}" for r in rows
             if "xilinx_error" in r]
    notes += [f"- `{r['model']}` on ECP5: {r['ecp5']['error']}" for r in rows
              if r.get("ecp5") and not r["ecp5"]["fits"]]
    figure = ""
    if synthesised:
        figure = _figure(out, "hardware", lambda fig: _bars(
            fig.add_subplot(), [r["model"] for r in synthesised],
            {k: [max(r["xilinx"][k], 0.5) for r in synthesised] for k in ("LUT", "FF", "DSP")},
            f"cells (synth_xilinx -family {result['xilinx_family']})"), (8, 4))
    budget = (f" One run starts at most {result['budget_s']:.0f} s of new tool runs; what "
              "did not fit says so and is added by the next run." if "budget_s" in result
              else "")
    return "\n\n".join(filter(None, [
        "## 3. Hardware cost",
        f"LUT/FF/DSP/CARRY8: yosys `synth_xilinx -family {result['xilinx_family']}` "
        "(UltraScale+) on `kiln_top`, an estimate (yosys maps differently from Vivado). ECP5: "
        f"yosys + nextpnr-ecp5 for board `{result['ecp5_board']}` (LFE5U-85F), `kiln_top` "
        "behind kiln's UART bridge, so the bridge is included; Fmax is nextpnr's estimate. "
        "Latency and II are kiln's, in clock cycles. Tool results are cached by the build "
        "plan's digest (RTL and scripts), so a re-run repeats only what changed." + budget,
        "hls4ml's published numbers are Vivado HLS/Vivado results for the same models where "
        "a published source gives them; \"not found\" means no source was found, and no "
        "number is given. " + result.get("published_note", ""),
        _about(result), table, "\n".join(notes + _errors(result["rows"])), figure]))


def scaling_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]
    sweeps = {"width": ("width", "layer width W (neurons)"),
              "bits": ("bits", "bit width of inputs, weights, activations")}
    sweep_text = " and ".join(
        [f"a width sweep at {r['bits']} bits" for r in rows[:1] if r["sweep"] == "width"]
        + [f"a bit-width sweep at W = {r['width']}" for r in rows if r["sweep"] == "bits"][:1])
    parts = ["## 4. Scaling",
             f"Synthetic QKeras MLPs 16-W-5 with seeded random weights: {sweep_text}. "
             "Compile time is "
             "kiln.compile plus the emulator build, from scratch; throughput is the emulator's "
             f"on {result['samples']} random samples. synth_xilinx runs only up to W = "
             f"{result['synth_max_width']}: yosys on wider layers would take most of the "
             "30-minute budget by itself"
             + (f"; one run starts at most {result['synth_budget_s']:.0f} s of new synthesis "
                "(results are cached by RTL, so later runs add the rest)."
                if "synth_budget_s" in result else "."),
             _about(result)]
    if any(not r.get("fresh", True) for r in rows):
        parts.append("_Quick mode: artifacts and emulators were reused, so these compile "
                     "times are not from scratch._")
    for sweep, (key, label) in sweeps.items():
        mine = [r for r in rows if r["sweep"] == sweep]
        if not mine:
            continue
        parts.append(_table(
            [key, "model", "compile (s)", "emulator build (s)", "emulator samples/s",
             "latency (cycles)", "LUT", "FF", "DSP"],
            [[r[key], r["model"], _num(r["compile_s"], 1), _num(r["emulator_build_s"], 1),
              _num(r["emulator_samples_per_s"]), r["latency_cycles"],
              *[_num(r["xilinx"][k]) if "xilinx" in r else "not run" for k in
                ("LUT", "FF", "DSP")]] for r in mine]))

        def draw(fig: Any, mine: list[Row] = mine, key: str = key, label: str = label) -> None:
            xs = [r[key] for r in mine]
            ax = fig.add_subplot(1, 3, 1)
            ax.plot(xs, [r["compile_s"] for r in mine], "o-", label="kiln.compile")
            ax.plot(xs, [r["emulator_build_s"] for r in mine], "s-", label="emulator build")
            ax.set_ylabel("seconds")
            ax.legend(fontsize=7)
            ax = fig.add_subplot(1, 3, 2)
            ax.plot(xs, [r["emulator_samples_per_s"] for r in mine], "o-")
            ax.set_ylabel("emulator samples / s")
            ax.set_yscale("log")
            ax = fig.add_subplot(1, 3, 3)
            synth = [r for r in mine if "xilinx" in r]
            for k in ("LUT", "FF", "DSP"):
                ax.plot([r[key] for r in synth], [max(r["xilinx"][k], 0.5) for r in synth],
                        "o-", label=k)
            ax.set_ylabel("cells (synth_xilinx)")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
            for a in fig.axes:
                a.set_xlabel(label, fontsize=8)
                a.set_xscale("log", base=2)
                a.grid(alpha=0.3)

        parts.append(_figure(out, f"scaling_{sweep}", draw, (11, 3.4)))
    notes = [f"- `{r['model']}` synth_xilinx: {r['xilinx_error']}"
             for r in dict((r["model"], r) for r in rows).values() if "xilinx_error" in r]
    parts.append("\n".join(notes + _errors(result["rows"])))
    return "\n\n".join(filter(None, parts))


def runtime_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]
    batches = result["batches"]
    parts = ["## 5. Runtime",
             "`Runtime.predict(x, device=...)` on batches of 1 to 4096 samples: median wall "
             "time of one call (latency) and the samples per second it gives, including input "
             "quantization and output conversion. The anchor is the framework model's own "
             "predict (`reference`, Keras `predict`), at the same batch size.",
             _about(result)]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        devices = list(dict.fromkeys(r["device"] for r in mine))
        cell = {(r["device"], r["batch"]): r for r in mine}

        def fmt(device: str, batch: int, cell: dict[tuple[str, int], Row] = cell) -> str:
            r = cell.get((device, batch))
            if r is None:
                return "-"
            ratio = r.get("ratio_vs_reference")
            return (f"{_num(r['samples_per_s'])} / {r['latency_ms']:.2f} ms"
                    + ("" if ratio is None or device == "reference" else f" ({_ratio(ratio)})"))

        parts.append(f"**{model}**: samples/s / latency per call (ratio to reference)")
        parts.append(_table(["device", *[str(b) for b in batches]],
                            [[d, *[fmt(d, b) for b in batches]] for d in devices]))

        def draw(fig: Any, mine: list[Row] = mine, devices: list[str] = devices) -> None:
            for i, (key, label) in enumerate((("samples_per_s", "samples / s"),
                                              ("latency_ms", "latency per call (ms)"))):
                ax = fig.add_subplot(1, 2, i + 1)
                for d in devices:
                    pts = [r for r in mine if r["device"] == d]
                    ax.plot([r["batch"] for r in pts], [r[key] for r in pts], "o-", label=d)
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xlabel("batch size")
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7)

        parts.append(_figure(out, f"runtime_{model}", draw, (10, 3.6)))
    parts.append("\n".join(_errors(result["rows"])))
    return "\n\n".join(filter(None, parts))


def folding_section(out: Output, result: Row) -> str:
    rows = [r for r in result["rows"] if "error" not in r]

    def xilinx(r: Row, key: str) -> str:
        return _num(r["xilinx"][key]) if "xilinx" in r else "not run"

    table = _table(
        ["model", "R", "II (cycles)", "latency", "LUT", "FF", "DSP", "BRAM",
         "estimate LUT6 / FF / DSP", f"RTL≠HLS (of {result['samples']})", "RTL≠kiln.fixed"],
        [[r["model"], r["reuse_factor"], r["ii"], r["latency_cycles"],
          *[xilinx(r, k) for k in ("LUT", "FF", "DSP", "BRAM")],
          f"{r['estimate']['LUT6']:,} / {r['estimate']['FF']:,} / {r['estimate']['DSP']:,}",
          r["rtl_vs_hls_mismatches"], r["rtl_vs_cpu_mismatches"]] for r in rows])

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model and "xilinx" in r]
            ax.plot([r["ii"] for r in mine], [r["xilinx"]["LUT"] for r in mine], "o-",
                    label=f"{model} (synth_xilinx LUT)")
            est = [r for r in rows if r["model"] == model]
            ax.plot([r["ii"] for r in est], [r["estimate"]["LUT6"] for r in est], "x--",
                    label=f"{model} (kiln estimate)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("II (cycles per sample)")
        ax.set_ylabel("LUT6")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)

    notes = [f"- `{r['model']}` at R = {r['reuse_factor']} synth_xilinx: {r['xilinx_error']}"
             for r in rows if "xilinx_error" in r]
    return "\n\n".join(filter(None, [
        "## 7. Folding",
        "Each model compiled at reuse factor R: every Dense and Conv layer at the largest "
        "factor it accepts of at most R (hls4ml's rule: the jet MLP's 32 x 5 output layer "
        "folds by 32 or 160, the digits CNN's 3x3x1 convolution by 1, 3 or 9): II and "
        "latency in cycles from the manifest; LUT/FF/DSP/BRAM from "
        "yosys `synth_xilinx -family xcup` (cached by RTL; a run starts what its budget "
        "allows); kiln's own estimate (`reports/fit.json`) beside it; and the Verilated RTL "
        "against hls4ml's C simulation (Resource strategy at the same R) and kiln.fixed on "
        "the same inputs, by integer equality. Every point is a design on the LUT-vs-II "
        "trade-off; see docs/folding.md.",
        _about(result), table, "\n".join(notes + _errors(result["rows"])),
        _figure(out, "folding", draw, (7, 4)) if rows else ""]))


SECTIONS: dict[str, Callable[[Output, Row], str]] = {
    "throughput": throughput_section, "compile_time": compile_section,
    "hardware": hardware_section, "scaling": scaling_section, "runtime": runtime_section,
}


def _shown(path: Path) -> str:
    """``path`` relative to the repository where it is inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def render(out: Output) -> Path:
    """Write ``out.page`` (and its plots) from the result files in ``out.results``."""
    results = read_results(out.results)
    first = next(iter(results.values()), None)
    parts = [
        "# kiln benchmarks",
        f"Generated by `{out.command}` (`python -m bench.run"
        f"{' --quick' if out.command.endswith('quick') else ''}`) from the result files in "
        f"`{_shown(out.results)}`; every number below was measured on the machine described "
        "here by the command named in its section. Re-run it to refresh this page; do not "
        "edit it by hand. Each family can be re-run alone (`python -m bench.run --only "
        "throughput`); `--render-only` rebuilds the page from the result files.",
        "Anchors: throughput against hls4ml's C simulation; compile time against hls4ml's "
        "write + compile; hardware beside hls4ml's published numbers; runtime against the "
        "framework model's own predict. Every engine runs on one thread (torch and "
        "TensorFlow are pinned to one, like Verilator's emulator and hls4ml's C simulation), "
        "so the rates compare one core each and hold steady when another job shares the "
        "machine.",
    ]
    if first is not None:
        parts.append(machine_section(first))
    for family, section in SECTIONS.items():
        if family in results:
            parts.append(section(out, results[family]))
    parts.append(gpu.section(out.results))
    if "folding" in results:
        parts.append(folding_section(out, results["folding"]))
    if da4ml_compare.FAMILY in results:
        parts.append(da4ml_compare.section(results[da4ml_compare.FAMILY]))
    if lenet.FAMILY in results:
        parts.append(lenet.section(results[lenet.FAMILY]))
    out.page.parent.mkdir(parents=True, exist_ok=True)
    out.page.write_text("\n\n".join(parts) + "\n")
    return out.page
