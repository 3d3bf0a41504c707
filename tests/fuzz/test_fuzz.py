"""Fuzz: kiln's bit-exactness promise on random models (tests/fuzz/_generate.py).

Every model is built from its seed alone; the test id is the seed. For each: RTL (Verilator
emulator under random valid/ready) == HLS C-sim == kiln.fixed == the framework model
(QKeras / Brevitas outputs as codes of the output type), integer equality on random inputs
over the input type. A float Keras model typed by ``precision=`` is not a bit-exact
reference: that comparison alone is skipped, and the test says so.

Reproduce a seed: ``python -m tests.fuzz SEED`` (or ``pytest tests/fuzz -m slow -k seedSEED``
for a seed of the long run).

Fast (``make test``): three models, compiled once per session; the same three models under
four random valid/ready patterns, more than 1e5 cycles in each; reset in mid-stream.
Slow (``make test-slow``): ``KILN_FUZZ_MODELS`` models (default 200) from seed
``KILN_FUZZ_START`` (default 1000), ``KILN_FUZZ_SAMPLES`` inputs each (default 5000: 1e6
in all), HLS C-sim on every ``KILN_FUZZ_HLS_EVERY``-th seed (default 1: all).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from tests.fuzz._check import FuzzResult, Stall, check_model, compile_model
from tests.fuzz._generate import (
    FRAMEWORKS,
    TOPOLOGIES,
    fuzz_model,
)

pytestmark = [pytest.mark.verilator]

#: A Brevitas MLP (folded), a float Keras MLP typed fixed<13,4,RND_CONV,SAT_SYM> (folded),
#: a QKeras Conv2D network with 'same' padding and max pooling (folded): small models that
#: compile in about 15 s each here.
FAST_SEEDS = (0, 4, 16)
FAST_SAMPLES = 2000
#: Random valid/ready over at least this many clock cycles in the fast handshake test.
HANDSHAKE_CYCLES = 100_000


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


SLOW_MODELS = _env_int("KILN_FUZZ_MODELS", 200)
SLOW_START = _env_int("KILN_FUZZ_START", 1000)
SLOW_SAMPLES = _env_int("KILN_FUZZ_SAMPLES", 5000)
SLOW_HLS_EVERY = _env_int("KILN_FUZZ_HLS_EVERY", 1)


def _assert_bit_exact(model: Any, result: FuzzResult) -> None:
    where = (f"{model.summary}\nreproduce: python -m tests.fuzz {model.seed}\n"
             f"stall {result.stall}, {result.samples} samples, {result.cycles} cycles")
    assert result.rtl_vs_cpu == 0, f"RTL != kiln.fixed on {result.rtl_vs_cpu} samples; {where}"
    assert result.rtl_vs_hls == 0, f"RTL != HLS C-sim on {result.rtl_vs_hls} samples; {where}"
    if result.framework_mismatches is None:
        assert not model.framework_exact
        return
    assert result.framework_mismatches == 0, (
        f"RTL != {model.framework} on {result.framework_mismatches} samples "
        f"(max {result.framework_max_lsb:.1f} LSB); {where}")


@pytest.mark.parametrize("seed", FAST_SEEDS, ids=lambda s: f"seed{s}")
def test_random_model_is_bit_exact_on_every_level(seed: int, compiled: Any) -> None:
    model, art, seconds = compiled(seed)
    result = check_model(model, art, FAST_SAMPLES, compile_s=seconds)
    if not model.framework_exact:
        # Explicitly not compared: the float model never sees precision='s types.
        assert model.skip_reason and result.framework_mismatches is None
    _assert_bit_exact(model, result)


@pytest.mark.parametrize("stall", [(0.7, 0.0), (0.0, 0.7), (0.5, 0.5), (0.9, 0.9)],
                         ids=["valid-gaps", "ready-gaps", "both", "sparse"])
def test_random_handshakes_account_for_every_sample(stall: tuple[float, float],
                                                    compiled: Any) -> None:
    """Every fast model under random valid/ready gaps, more than 1e5 cycles in each pattern:
    each sample comes out once, in order, equal to kiln.fixed (a dropped sample stops the
    emulator with an error; a duplicated or reordered one is a mismatch)."""
    import kiln
    from kiln.sim import Emulator, StallPattern
    from kiln.verify import random_inputs

    cycles = 0
    for seed in FAST_SEEDS:
        model, art, _ = compiled(seed)
        rt = kiln.load(art.path)
        emulator = Emulator.build(art.path / "rtl", art.path / "sim")
        per_model = 0
        chunk = 500
        while per_model < HANDSHAKE_CYCLES // len(FAST_SEEDS):
            codes = rt.input_codes(random_inputs(rt, chunk, seed=seed + cycles))
            result = emulator.run(codes, StallPattern(*stall, seed=seed + cycles))
            want = rt.device("cpu").run(codes).outputs
            assert result.codes.shape == want.shape
            assert np.array_equal(result.codes, want), f"{model.summary}, stall {stall}"
            per_model += result.cycles
            cycles += result.cycles
            chunk *= 2
    assert cycles >= HANDSHAKE_CYCLES


@pytest.mark.parametrize("seed", FAST_SEEDS, ids=lambda s: f"seed{s}")
def test_reset_mid_stream_leaves_no_stale_output(seed: int, compiled: Any) -> None:
    """Half a batch in flight under random valid/ready, reset, then a fresh batch: exactly the
    fresh batch's outputs come out (nothing stale from before the reset)."""
    import kiln
    from kiln.sim import Emulator, StallPattern
    from kiln.verify import random_inputs

    model, art, _ = compiled(seed)
    rt = kiln.load(art.path)
    emulator = Emulator.build(art.path / "rtl", art.path / "sim")
    contract = emulator.contract
    before = rt.input_codes(random_inputs(rt, 20, seed=seed + 1))
    after = rt.input_codes(random_inputs(rt, 50, seed=seed + 2))
    want = rt.device("cpu").run(after).outputs.reshape(-1, contract.out_elems)
    with emulator.open(StallPattern(0.3, 0.3, seed)) as stream:
        first = stream.step(before.reshape(-1, contract.in_elems), max_out=5,
                            max_cycles=10 * contract.latency + 40)
        assert first.consumed > 0, "the design took beats before the reset"
        stream.reset()
        beats = after.reshape(-1, contract.in_elems)
        got: list[Any] = []
        for _ in range(10_000):
            if len(got) >= len(want):
                break
            step = stream.step(beats, max_out=len(want) - len(got), max_cycles=2000)
            beats = beats[step.consumed:]
            got.extend(step.codes.tolist())
    assert np.array_equal(np.array(got), want), f"{model.summary}: stale or lost outputs"


def test_a_seed_gives_the_same_model() -> None:
    a, b = fuzz_model(5), fuzz_model(5)
    assert a.summary == b.summary and a.options == b.options
    assert all(np.array_equal(x, y) for x, y in zip(a.model.get_weights(),
                                                    b.model.get_weights(), strict=True))
    assert fuzz_model(6).summary != a.summary


@pytest.mark.slow
def test_sixty_seeds_cover_every_framework_and_topology() -> None:
    """The first 60 seeds of the long run hold every framework and topology, folded and
    unfolded models, and signed and unsigned inputs."""
    models = [fuzz_model(s) for s in range(SLOW_START, SLOW_START + 60)]
    assert {(m.framework, m.topology) for m in models} == {
        (f, t) for f in FRAMEWORKS for t in TOPOLOGIES}
    assert {m.options["reuse_factor"] != 1 for m in models} == {True, False}
    assert any("in:s" in m.summary for m in models) and any("in:u" in m.summary for m in models)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("seed", range(SLOW_START, SLOW_START + SLOW_MODELS),
                         ids=lambda s: f"seed{s}")
def test_long_fuzz(seed: int, tmp_path: Any) -> None:
    model = fuzz_model(seed)
    art, seconds = compile_model(model, tmp_path)
    hls = SLOW_HLS_EVERY > 0 and (seed - SLOW_START) % SLOW_HLS_EVERY == 0
    _assert_bit_exact(model, check_model(model, art, SLOW_SAMPLES, hls=hls, compile_s=seconds))


def test_stall_is_drawn_from_the_seed() -> None:
    assert Stall.draw(7) == Stall.draw(7)
    assert 0.0 <= Stall.draw(7).in_gap <= 0.8 and 0.0 <= Stall.draw(7).out_gap <= 0.8
