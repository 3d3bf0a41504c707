"""Random QKeras models folded at every reuse factor kiln accepts: RTL (the Verilator
emulator, at full rate and under random valid/ready) == hls4ml C-sim (Resource strategy) ==
kiln.fixed == QKeras, by integer equality on every sample; and the emulator's cycle count for
N samples at full rate is exactly what the manifest states.

The models come from the fuzz suite's generator (tests/fuzz/_generate.py): its QKeras builder
draws the quantizers (which define every type), weights and activations; here the shapes are
drawn so that the reuse factors R in {1, 2, 3, 4, 8, 16, n_in} fold most layers. For each
model and each R: one factor for every layer where every layer takes it, else R on the layers
that take it and 1 on the rest (a mix); plus one random per-layer mix. A factor no layer
takes is refused with a KilnError naming the valid ones.

The emulator counts clock cycles from reset release up to and including the cycle of the
last output handshake, and the manifest's latency runs from a sample's last input handshake,
so N samples back to back take exactly ``(N - 1) * II + B + latency`` cycles where the timing
is exact, B being a sample's input beats (1 in io_parallel: ``N * II + latency`` at II = 1; a
frame's pixels in io_stream, where the timing is exact when nothing is folded). In io_stream the
stated II is the contention-free ideal (``timing_exact`` false): the test measures the steady
interval, prints it beside the stated one and checks it is no smaller and that N frames take N
intervals within one frame's latency.

Default suite: one random MLP with a per-layer mix. ``-m slow``: the whole sweep (run with
``-s`` to see each case's measured cycles).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from tests.fuzz._check import compile_model, framework_outputs
from tests.fuzz._generate import (
    ConvStage,
    FuzzModel,
    Layer,
    Shape,
    _keras,
    _keras_names,
    _layers,
)

from kiln.errors import KilnError
from kiln.ir import is_valid_reuse_factor, valid_reuse_factors

pytestmark = pytest.mark.verilator

SAMPLES = 300
REUSE_SET = (1, 2, 3, 4, 8, 16)  # and each model's n_in (first foldable layer's inputs)
MAX_MIX_FACTOR = 64  # a random mix draws factors up to this (larger ones simulate slowly)


# ---------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Spec:
    """A random model's seed, topology and shape (drawn at collection, without TensorFlow)."""

    seed: int
    topology: str
    shape: Shape

    @property
    def layers(self) -> list[Layer]:
        return _layers(self.shape, *_keras_names(self.shape))

    @property
    def io_type(self) -> str:
        return "io_parallel" if self.topology == "mlp" else "io_stream"

    @property
    def n_in(self) -> int:
        return next(x.n_in for x in self.layers if x.foldable)


def _spec(seed: int, topology: str) -> Spec:
    """Shapes whose layers take most of REUSE_SET: inputs and hidden widths with many
    divisors; outputs, filters and kernels random."""
    rng = np.random.default_rng([seed, 0x464F4C44])
    if topology == "mlp":
        hidden = [int(rng.choice([4, 6, 8, 12, 16])) for _ in range(int(rng.integers(1, 3)))]
        dense = (*hidden, int(rng.integers(1, 11)))
        return Spec(seed, topology, Shape((int(rng.choice([12, 16, 24, 32, 48])),), (), dense))
    channels = int(rng.choice([1, 2, 4]))
    sides = ([int(rng.integers(5, 8)), int(rng.integers(5, 8))] if topology == "conv2d"
             else [int(rng.integers(8, 14))])
    kernel = int(rng.choice([2, 3] if topology == "conv2d" else [2, 3, 4]))
    pool = bool(rng.random() < 0.5)
    conv = ConvStage(int(rng.choice([2, 4, 8])), kernel, same=False, pool=pool)
    return Spec(seed, topology, Shape((*sides, channels), (conv,), (int(rng.integers(2, 9)),)))


def _qkeras(spec: Spec) -> tuple[Any, str]:
    """The QKeras model of ``spec``: the fuzz generator's quantizers and weights."""
    return _keras(np.random.default_rng([spec.seed, 0x514B]), spec.shape, True)


def _reuse_cases(spec: Spec) -> list[int | dict[str, int]]:
    """R for every layer where all take it, else R where it folds and 1 elsewhere; then one
    random per-layer mix. Duplicates (R = n_in = 16, a mix equal to an earlier one) once."""
    layers = spec.layers
    cases: list[int | dict[str, int]] = []
    seen: list[dict[str, int]] = []

    def add(case: int | dict[str, int]) -> None:
        factors = _factors(layers, case)
        if factors not in seen:
            seen.append(factors)
            cases.append(case)

    for reuse in sorted({*REUSE_SET, spec.n_in}):
        takes = [x.foldable and is_valid_reuse_factor(x.n_in, x.n_out, reuse) for x in layers]
        if all(takes):
            add(reuse)
        elif any(takes):
            add({x.name: reuse if t else 1 for x, t in zip(layers, takes, strict=True)})
    rng = np.random.default_rng([spec.seed, 0x4D4958])
    add({x.name: int(rng.choice([r for r in valid_reuse_factors(x.n_in, x.n_out)
                                 if r <= MAX_MIX_FACTOR])) if x.foldable else 1
         for x in layers})
    return cases


def _factors(layers: list[Layer], reuse: int | dict[str, int]) -> dict[str, int]:
    return {x.name: reuse[x.name] for x in layers} if isinstance(reuse, dict) else \
        {x.name: reuse for x in layers}


# ---------------------------------------------------------------------------------- check


class Models:
    """Each spec's QKeras model built once a session."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], FuzzModel] = {}

    def __call__(self, spec: Spec, reuse: int | dict[str, int]) -> FuzzModel:
        key = (spec.seed, spec.topology)
        if key not in self._cache:
            model, notes = _qkeras(spec)
            self._cache[key] = FuzzModel(
                spec.seed, "qkeras", spec.topology, model, {}, True,
                f"seed {spec.seed}: {spec.topology} {spec.shape} [{notes}]",
                layers=spec.layers)
        base = self._cache[key]
        tag = reuse if isinstance(reuse, int) else "_".join(str(v) for v in reuse.values())
        return FuzzModel(base.seed, base.framework, f"{base.topology}_r{tag}", base.model,
                         {"io_type": spec.io_type, "reuse_factor": reuse}, True,
                         f"{base.summary} reuse {reuse}", layers=spec.layers)


@pytest.fixture(scope="module")
def models() -> Models:
    return Models()


def _mismatches(a: NDArray[Any], b: NDArray[Any]) -> int:
    return int(np.any(np.asarray(a) != np.asarray(b), axis=1).sum())


def _check(spec: Spec, reuse: int | dict[str, int], models: Models, root: Path) -> None:
    import kiln
    from kiln.fixed import to_float
    from kiln.sim import Emulator, StallPattern
    from kiln.verify import random_inputs

    fuzz = models(spec, reuse)
    art, _ = compile_model(fuzz, root)
    factors = _factors(spec.layers, reuse)
    built = {n.name: n.reuse_factor for n in art.graph.nodes if n.kind in ("conv", "dense")}
    assert built == factors, fuzz.summary

    rt = kiln.load(art.path)
    x = random_inputs(rt, SAMPLES, seed=spec.seed)
    codes = rt.input_codes(x)
    emulator = Emulator.build(art.path / "rtl", art.path / "sim")
    full = emulator.run(codes)
    stalled = emulator.run(codes, StallPattern(0.4, 0.4, spec.seed))
    rtl = np.asarray(full.codes)
    assert rtl.shape == (SAMPLES, rt.graph.output.size), "every sample came out exactly once"
    distinct = len(np.unique(rtl, axis=0))
    assert distinct > 1, f"{fuzz.summary}: every output equal, the comparison would be empty"
    out_type = rt.graph.output.out_type
    qkeras = framework_outputs(fuzz, x)
    tally = {
        "rtl_stalled": _mismatches(rtl, stalled.codes),
        "hls": _mismatches(rtl, rt.device("hls").run(codes).outputs),
        "kiln.fixed": _mismatches(rtl, rt.device("cpu").run(codes).outputs),
        "qkeras": _mismatches(to_float(torch.from_numpy(rtl), out_type).numpy(),
                              qkeras),
    }
    assert tally == dict.fromkeys(tally, 0), f"{fuzz.summary}: mismatching samples {tally}"

    contract = emulator.contract
    ii, latency = art.manifest.ii, art.manifest.latency
    if spec.io_type == "io_parallel":
        assert ii == max(factors.values()), fuzz.summary  # the slowest layer sets the rate
    one = emulator.run(codes[:1]).cycles
    half = emulator.run(codes[:SAMPLES // 2]).cycles
    if contract.timing_exact:
        for n, cycles in ((1, one), (SAMPLES // 2, half), (SAMPLES, full.cycles)):
            assert cycles == (n - 1) * ii + contract.in_beats + latency, \
                f"{fuzz.summary}: {n} samples took {cycles} cycles (II {ii}, latency " \
                f"{latency}, {contract.in_beats} input beats a sample)"
        print(f"\n{fuzz.summary}: II {ii} latency {latency}, {SAMPLES} samples in "
              f"{full.cycles} cycles (exact), {distinct} distinct outputs, 0 mismatches")
        return
    # io_stream: the stated II is the ideal; the steady interval is measured.
    interval = (full.cycles - half) / (SAMPLES - SAMPLES // 2)
    assert interval >= ii, f"{fuzz.summary}: measured interval {interval} < stated II {ii}"
    assert abs(full.cycles - SAMPLES * interval) <= one, \
        f"{fuzz.summary}: {SAMPLES} frames took {full.cycles} cycles, not {SAMPLES} x " \
        f"{interval} within one frame's {one}"
    print(f"\n{fuzz.summary}: stated II {ii} latency {latency}; measured interval "
          f"{interval:g}, one frame {one} cycles, {SAMPLES} frames in {full.cycles} cycles, "
          f"{distinct} distinct outputs, 0 mismatches")


# ---------------------------------------------------------------------------------- tests

SPECS = [_spec(1, "mlp"), _spec(3, "mlp"), _spec(4, "conv1d"), _spec(5, "conv2d")]


def _case_id(spec: Spec, reuse: int | dict[str, int]) -> str:
    text = ",".join(f"{k}={v}" for k, v in reuse.items()) if isinstance(reuse, dict) else reuse
    return f"{spec.topology}{spec.seed}-R{text}"


SWEEP = [pytest.param(spec, reuse, id=_case_id(spec, reuse))
         for spec in SPECS for reuse in _reuse_cases(spec)]


@pytest.mark.parametrize(("spec", "reuse"), [pytest.param(
    SPECS[0], _reuse_cases(SPECS[0])[-1], id="mlp1-random-mix")])
def test_a_random_mlp_with_a_random_mix_is_bit_exact_and_on_time(
        spec: Spec, reuse: Any, models: Models, tmp_path: Path) -> None:
    _check(spec, reuse, models, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "reuse"), SWEEP)
def test_random_models_at_every_reuse_factor(spec: Spec, reuse: Any, models: Models,
                                             tmp_path: Path) -> None:
    _check(spec, reuse, models, tmp_path)


def test_a_reuse_factor_no_layer_takes_is_refused(models: Models, tmp_path: Path) -> None:
    spec = SPECS[0]
    first = spec.layers[0]
    bad = next(r for r in range(5, first.n_in) if not is_valid_reuse_factor(first.n_in,
                                                                           first.n_out, r))
    with pytest.raises(KilnError, match=rf"Dense '{first.name}' \({first.n_in} inputs, "
                                        rf"{first.n_out} outputs\): reuse factor {bad} does "
                                        r"not fold it .* Valid choices near it: \d"):
        compile_model(models(spec, {first.name: bad}), tmp_path)
