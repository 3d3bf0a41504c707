"""Build a kiln layer export with da4ml and write its Verilog. Runs in da4ml's own virtual
environment (``.venv-da4ml``, from ``bench/da4ml-requirements.lock``: da4ml needs numpy >= 2,
kiln pins numpy < 2), so it imports only numpy and da4ml, never kiln.

    .venv-da4ml/bin/python bench/da4ml_build.py EXPORT.json OUT_DIR SETTING [SETTING ...]

EXPORT.json is what :func:`bench.da4ml.export_layers` writes: the input type and every
Dense / ReLU / Cast layer with integer weight and bias codes and each FixedType (width,
integer, signed, rounding, overflow). The function da4ml builds is kiln.fixed's:

- Dense: ``acc = wrap_acc(sum_i x_i * w_ij + cast_acc(b_j))`` (every product fits the
  accumulator's fraction bits, checked, so the sum is one constant matrix-vector product,
  which da4ml solves by distributed arithmetic with its common-subexpression search), then
  ``cast_out(acc)``;
- ReLU: ``cast_out(max(x, 0))``; Cast: ``cast_out(x)``;

where a cast rounds (TRN, RND, or RND_CONV as round-half-up plus the kept LSB's correction)
and then wraps or saturates (WRAP, SAT, SAT_SYM), as ap_fixed does.

A SETTING is ``NAME:TRACE_CUTOFF:LATENCY_CUTOFF:HARD_DC[:METHOD0]``: da4ml's ``HWConfig(1,
-1, TRACE_CUTOFF)`` while tracing, ``hard_dc`` (and ``method0``, e.g. ``dummy``: no
common-subexpression search) for the CMVM solver and ``latency_cutoff`` (adder levels per
pipeline stage) for the Verilog. Each is
written to ``OUT_DIR/NAME/`` with ``da4ml.json`` (stages, latency in cycles, da4ml's own
cost estimate, and the I/O layout of its ``model_wrapper`` for the bit-exactness harness).
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np


def _kif(t: dict) -> tuple[int, int, int]:
    """da4ml's (keep_negative, integer bits without sign, fraction bits) of a kiln FixedType."""
    signed = int(bool(t["signed"]))
    return signed, t["integer"] - signed, t["width"] - t["integer"]


def _cast_var(v, t: dict):
    """One FixedVariable cast to kiln FixedType ``t`` (dict), ap_fixed's rules."""
    k, i, f = _kif(t)
    rounding, overflow = t["rounding"], t["overflow"]
    if overflow not in ("WRAP", "SAT", "SAT_SYM"):
        raise NotImplementedError(f"overflow mode {overflow} has no da4ml counterpart here")
    vf = int(v.kif[2])
    if vf <= f or rounding == "TRN":
        mode = "TRN"
    elif rounding == "RND":
        mode = "RND"
    elif rounding == "RND_CONV":
        # round half to even: x + (half - ulp) + lsb * ulp, then truncate; lsb is the bit
        # of x that the result keeps lowest (value lsb * 2**-f)
        lsb = v.quantize(0, -f + 1, f, "WRAP", "TRN")
        ulp = Decimal(2) ** -vf
        v = v + (Decimal(2) ** -(f + 1) - ulp)
        if not (lsb.low == lsb.high == 0):
            v = v + lsb * float(2.0 ** (f - vf))
        mode = "TRN"
    else:
        raise NotImplementedError(f"rounding mode {rounding} has no da4ml counterpart here")
    return v.quantize(k, i, f, overflow, mode)


def _cast(x, t: dict):
    from da4ml.trace import FixedVariableArray

    flat = [_cast_var(v, t) for v in x._vars.ravel()]
    return FixedVariableArray(np.array(flat, dtype=object).reshape(x._vars.shape),
                              x.solver_options, hwconf=x.hwconf)


def _bias_at_acc(bias: list[int], bias_t: dict, acc_t: dict) -> np.ndarray:
    """Bias codes cast to the accumulator's fraction bits, as real values (exact)."""
    shift = (acc_t["width"] - acc_t["integer"]) - (bias_t["width"] - bias_t["integer"])
    if shift < 0:
        raise NotImplementedError("bias with more fraction bits than the accumulator")
    acc_frac = acc_t["width"] - acc_t["integer"]
    return np.array([float(b << shift) * 2.0 ** -acc_frac for b in bias])


def _dense(x, layer: dict, in_t: dict):
    w = np.asarray(layer["weight"], dtype=np.int64)
    wt, bt, acc = layer["weight_type"], layer["bias_type"], layer["accum_type"]
    if acc["overflow"] != "WRAP":
        raise NotImplementedError("accumulator must wrap")
    product_frac = (in_t["width"] - in_t["integer"]) + (wt["width"] - wt["integer"])
    if acc["width"] - acc["integer"] < product_frac:
        raise NotImplementedError("products lose fraction bits in the accumulator: not a CMVM")
    w_real = w.astype(np.float64) * 2.0 ** -(wt["width"] - wt["integer"])
    y = x @ w_real
    y = y + _bias_at_acc(layer["bias"], bt, acc)
    k, i, f = _kif(acc)
    y = y.quantize(k, i, f, "WRAP", "TRN")
    return _cast(y, layer["out_type"])


def trace(export: dict, trace_cutoff: float, hard_dc: int, method0: str | None = None):
    """da4ml's CombLogic of the exported layers (``method0``: the CMVM solver's first-stage
    method; None for da4ml's default, ``dummy`` for no common-subexpression search)."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace

    hw = HWConfig(1, -1, trace_cutoff)
    options: dict = {"hard_dc": hard_dc}
    if method0:
        options["method0"] = method0
    inp = FixedVariableArrayInput(tuple(export["input"]["shape"]), hwconf=hw,
                                  solver_options=options)
    in_t = export["input"]["type"]
    x = inp.quantize(*_kif(in_t), "WRAP", "TRN")
    for layer in export["layers"]:
        if layer["kind"] == "dense":
            x = _dense(x, layer, in_t)
        elif layer["kind"] == "relu":
            x = _cast(x.relu(), layer["out_type"])
        elif layer["kind"] == "cast":
            x = _cast(x, layer["out_type"])
        else:
            raise NotImplementedError(f"layer kind {layer['kind']}")
        in_t = layer["out_type"]
    return comb_trace(inp, x)


def _layout(qints) -> dict:
    """Where ``model_wrapper`` puts element j: bits [j*bw, (j+1)*bw), LSB weight 2**-frac."""
    from da4ml.types import minimal_kif

    kifs = [minimal_kif(q) for q in qints]
    max_i = max(k + i for k, i, _ in kifs)
    max_f = max(f for _, _, f in kifs)
    return {"n": len(kifs), "bw": max_i + max_f, "frac": max_f,
            "signed": [bool(k) for k, _, _ in kifs]}


def build(export: dict, out: Path, setting: str) -> dict:
    from da4ml.codegen import VerilogModel

    name, trace_cutoff, latency_cutoff, hard_dc, *method = setting.split(":")
    start = time.perf_counter()
    comb = trace(export, float(trace_cutoff), int(hard_dc), method[0] if method else None)
    traced = time.perf_counter() - start
    model = VerilogModel(comb, "model", out / name, latency_cutoff=float(latency_cutoff),
                         print_latency=False)
    model.write()
    pipe = model._pipe
    stages = len(pipe.solutions) if pipe is not None else 0
    meta = {
        "setting": name, "trace_cutoff": float(trace_cutoff),
        "latency_cutoff": float(latency_cutoff), "hard_dc": int(hard_dc),
        "method0": method[0] if method else "default",
        "stages": stages,
        # model_inp is registered into stage 0, every stage's output into the next stage's
        # input register, and the last one into model_out: stages + 1 clock edges
        "latency": stages + 1 if stages else 0,
        "estimated_lut": float(comb.cost),
        "reg_bits": int(pipe.reg_bits) if pipe is not None else 0,
        "seconds": round(time.perf_counter() - start, 2), "trace_seconds": round(traced, 2),
        "top": "model", "wrapper": "model_wrapper",
        "input": _layout(comb.inp_qint), "output": _layout(comb.out_qint),
        "versions": _versions(),
    }
    (out / name / "da4ml.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("da4ml", "numpy", "quantizers")}


def main(argv: list[str]) -> int:
    export = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    for setting in argv[2:]:
        meta = build(export, out, setting)
        print(json.dumps({k: meta[k] for k in ("setting", "stages", "latency",
                                                "estimated_lut", "seconds")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
