"""The fuzz check: one compiled random model, random inputs over its input type, and every
level compared by integer equality: RTL (Verilator emulator, random valid/ready) == HLS
C-sim == kiln.fixed == the framework model (QKeras / Brevitas, its float outputs divided
into codes of the output type)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tests.fuzz._generate import FuzzModel


@dataclass(frozen=True)
class Stall:
    """Random handshake gaps: the chance that ``s_axis_tvalid`` is low, and that
    ``m_axis_tready`` is low, in any cycle (kiln.sim.StallPattern), with its seed."""

    in_gap: float
    out_gap: float
    seed: int

    @classmethod
    def draw(cls, seed: int) -> Stall:
        rng = np.random.default_rng([seed, 0x5354])
        return cls(round(float(rng.uniform(0.0, 0.8)), 2), round(float(rng.uniform(0.0, 0.8)), 2),
                   seed)


@dataclass(frozen=True)
class FuzzResult:
    """What one model's check measured. ``*_mismatches`` count samples with any output code
    different from the RTL's; ``framework_mismatches`` is None when the framework comparison is
    skipped (``skip_reason`` says why)."""

    seed: int
    summary: str
    samples: int
    in_beats: int
    cycles: int
    stall: Stall
    hls_checked: bool
    rtl_vs_hls: int
    rtl_vs_cpu: int
    framework_mismatches: int | None
    framework_max_lsb: float
    skip_reason: str
    latency: int
    ii: int
    compile_s: float
    check_s: float

    @property
    def passed(self) -> bool:
        return (self.rtl_vs_hls == 0 and self.rtl_vs_cpu == 0
                and self.framework_mismatches in (0, None))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compile_model(model: FuzzModel, root: Path) -> tuple[Any, float]:
    """``kiln.compile`` of the random model into ``root/<name>``; the artifact and seconds."""
    import kiln

    start = time.perf_counter()
    art = kiln.compile(model.model, root / model.name, name=model.name, **model.options)
    return art, time.perf_counter() - start


def framework_outputs(model: FuzzModel, x: NDArray[Any]) -> NDArray[Any]:
    """The framework model's float outputs for ``x`` (hardware layout: channels last)."""
    if model.framework == "brevitas":
        torch_x = np.moveaxis(x, -1, 1) if x.ndim > 2 else x
        with torch.no_grad():
            y = model.model(torch.from_numpy(np.ascontiguousarray(torch_x, dtype=np.float32)))
        return np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    y = model.model.predict(x.astype(np.float32), batch_size=8192, verbose=0)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def run_rtl(art: Any, codes: NDArray[Any], stall: Stall) -> tuple[NDArray[Any], int]:
    """The Verilated kiln_top under random valid/ready: output codes and clock cycles. The
    emulator raises if the design stops producing while outputs are owed (a dropped sample
    or a deadlock); a duplicated or reordered sample shows as a mismatch."""
    from kiln.sim import Emulator, StallPattern

    emulator = Emulator.build(art.path / "rtl", art.path / "sim")
    result = emulator.run(codes, StallPattern(stall.in_gap, stall.out_gap, stall.seed))
    return np.asarray(result.codes), int(result.cycles)


def check_model(model: FuzzModel, art: Any, samples: int, *, hls: bool = True,
                compile_s: float = 0.0) -> FuzzResult:
    """Run ``samples`` random inputs (uniform over the input type's codes, drawn from the
    model's seed) through every level and count mismatches against the RTL."""
    import kiln
    from kiln.fixed import to_float
    from kiln.verify import random_inputs

    start = time.perf_counter()
    rt = kiln.load(art.path)
    x = random_inputs(rt, samples, seed=model.seed)
    codes = rt.input_codes(x)
    stall = Stall.draw(model.seed)
    rtl, cycles = run_rtl(art, codes, stall)
    assert rtl.shape == (samples, rt.graph.output.size), "every sample came out exactly once"
    cpu = rt.device("cpu").run(codes).outputs
    rtl_vs_hls = 0
    if hls:
        rtl_vs_hls = _mismatches(rtl, rt.device("hls").run(codes).outputs)
    framework_mismatches: int | None = None
    max_lsb = 0.0
    out_type = rt.graph.output.out_type
    want = framework_outputs(model, x)
    got = to_float(torch.from_numpy(rtl), out_type).numpy()
    max_lsb = float(np.abs(got - want).max() / out_type.lsb) if samples else 0.0
    if model.framework_exact:
        framework_mismatches = _mismatches(got, want)
    contract = art.manifest
    return FuzzResult(
        seed=model.seed, summary=model.summary, samples=samples,
        in_beats=samples * int(np.prod(rt.graph.input.shape[:-1] or (1,)))
        if rt.graph.io_type == "io_stream" else samples,
        cycles=cycles, stall=stall, hls_checked=hls, rtl_vs_hls=rtl_vs_hls,
        rtl_vs_cpu=_mismatches(rtl, cpu), framework_mismatches=framework_mismatches,
        framework_max_lsb=max_lsb, skip_reason=model.skip_reason, latency=contract.latency,
        ii=contract.ii, compile_s=compile_s, check_s=time.perf_counter() - start,
    )


def _mismatches(a: NDArray[Any], b: NDArray[Any]) -> int:
    return int(np.any(np.asarray(a) != np.asarray(b), axis=1).sum())
