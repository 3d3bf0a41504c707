"""hls4ml's PyTorch and Brevitas test models, re-created (our own code, the same layers, sizes
and settings as hls4ml's test/pytest/test_pytorch_api.py, test_brevitas_parsing.py,
test_batchnorm_pytorch.py and test_merge_pytorch.py), and one check that puts a case through
kiln and says what came of it.

Every case is compiled with ``kiln.compile``; one that builds is run on ``SAMPLES`` inputs
through the Verilated RTL, hls4ml's C simulation and kiln.fixed, whose output codes must be
equal, and against the PyTorch/Brevitas module: equal codes where the artifact says the
Brevitas quantizers define every type (``reference_bit_exact``), else within ``ATOL`` of the
float model (hls4ml's own tolerance in these tests, 5e-2, for its default ap_fixed<16,6>).
A case kiln refuses must raise a KilnError whose message names the fix.

``python -m tests.frontend._torch_suite [pytorch|brevitas]`` runs every case and prints the
outcome table of docs/verification.md.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

SAMPLES = 300
ATOL = 5e-2
PRECISION = "fixed<16,6>"  # hls4ml's default ap_fixed<16,6>
# Words by which kiln's refusals name the change that makes a model build.
_FIX_WORDS = re.compile(r"Fix:|\bUse |\buse |compile with|[Rr]eplace it|[Rr]emove (it|the)|"
                        r"[Gg]ive (the|every|input_shape)|[Ff]old it|pass precision=")
OUTCOMES = ("bit-exact", "close", "refused with the fix", "vague refusal", "wrong", "escaped")


@dataclass(frozen=True)
class Case:
    """One model of hls4ml's suites as kiln compiles it.

    ``refused``: a regex the KilnError must match when kiln is expected to refuse the model
    ("" when it must build). ``x_range``: inputs are drawn uniformly from it (the
    float models' ranges; hls4ml's tests use [0, 1)), then quantized to the input type.
    """

    id: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    io_type: str = "io_parallel"
    precision: str | None = PRECISION
    refused: str = ""
    x_range: tuple[float, float] = (-2.0, 2.0)


@dataclass(frozen=True)
class Outcome:
    case: str
    outcome: str        # one of OUTCOMES
    detail: str
    seconds: float


def seeded(build: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    """``build`` with torch's generator seeded, the model in eval mode."""
    def make() -> nn.Module:
        torch.manual_seed(seed)
        return build().eval()
    return make


def randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Give every BatchNorm running statistics and an affine transform that change the values
    (a fresh BatchNorm is the identity, which would test nothing)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            n = module.num_features
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            assert module.running_mean.shape == (n,)
    return model


def _to_torch_layout(x: NDArray[Any]) -> NDArray[Any]:
    """Hardware layout (channels last) to PyTorch's (channels first)."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim > 2 else x


def framework_outputs(model: nn.Module, x: NDArray[Any]) -> NDArray[Any]:
    """The module's outputs for ``x`` (hardware layout), flattened channels last."""
    with torch.no_grad():
        y = model(torch.from_numpy(_to_torch_layout(x).astype(np.float32)))
    y = getattr(y, "value", y)  # a Brevitas QuantTensor
    out = np.asarray(y, dtype=np.float64)
    if out.ndim > 2:
        out = np.moveaxis(out, 1, -1)
    return out.reshape(len(x), -1)


def _mismatches(a: NDArray[Any], b: NDArray[Any]) -> int:
    return int(np.any(np.asarray(a) != np.asarray(b), axis=1).sum())


def _inputs(rt: Any, case: Case) -> NDArray[Any]:
    """``SAMPLES`` inputs on the input type's grid, hardware layout: every code of the type
    for a quantized input, ``case.x_range`` for a float one."""
    from kiln.fixed import to_float
    from kiln.verify import random_inputs

    shape = (SAMPLES, *rt.graph.input.shape)
    if rt.artifact.manifest.reference_bit_exact:
        x = random_inputs(rt, SAMPLES, seed=1).reshape(shape)
    else:
        x = np.random.default_rng(1).uniform(*case.x_range, size=shape)
    codes = rt.input_codes(x)
    return np.asarray(to_float(torch.from_numpy(codes), rt.graph.input.out_type).numpy()
                      ).reshape(shape)


def check_built(case: Case, model: nn.Module, art: Any) -> tuple[str, str]:
    """RTL == HLS C-sim == kiln.fixed on ``SAMPLES`` inputs, then the framework model: the
    outcome and what was measured."""
    import kiln
    from kiln.fixed import to_float

    rt = kiln.load(art.path)
    x = _inputs(rt, case)
    codes = rt.input_codes(x)
    rtl = np.asarray(rt.device("fpga-sim").run(codes).outputs)
    hls = np.asarray(rt.device("hls").run(codes).outputs)
    cpu = np.asarray(rt.device("cpu").run(codes).outputs)
    levels = f"RTL vs HLS {_mismatches(rtl, hls)}/{len(x)}, kiln.fixed vs HLS " \
             f"{_mismatches(cpu, hls)}/{len(x)}"
    if _mismatches(rtl, hls) or _mismatches(cpu, hls):
        return "wrong", levels
    out_type = rt.graph.output.out_type
    got = to_float(torch.from_numpy(hls), out_type).numpy().reshape(len(x), -1)
    want = framework_outputs(model, x)
    if got.shape != want.shape:
        return "wrong", f"{levels}; {got.shape[1]} outputs, the model has {want.shape[1]}"
    error = float(np.abs(got - want).max())
    lsb = error / out_type.lsb
    if art.manifest.reference_bit_exact:
        diff = _mismatches(got, want)
        outcome = "bit-exact" if diff == 0 else "wrong"
        return outcome, f"{levels}; {diff}/{len(x)} differ from Brevitas (max {lsb:.0f} LSB)"
    agree = ""
    if want.shape[1] > 1:
        agree = f", argmax equal on {np.mean(got.argmax(1) == want.argmax(1)):.1%}"
    outcome = "close" if error <= ATOL else "wrong"
    return outcome, f"{levels}; max |error| {error:.4f} ({lsb:.0f} LSB of {out_type}){agree}"


def run_case(case: Case, root: Path) -> tuple[Outcome, str]:
    """Compile ``case`` into ``root`` and check it: its outcome and the refusal message (or
    "")."""
    import kiln
    from kiln.errors import KilnError

    start = time.perf_counter()
    model = case.build()
    options: dict[str, Any] = {"input_shape": case.input_shape, "io_type": case.io_type}
    if case.precision is not None:
        options["precision"] = case.precision
    try:
        art = kiln.compile(model, root / "art", **options)
    except KilnError as exc:
        message = str(exc)
        outcome = "refused with the fix" if _FIX_WORDS.search(message) else "vague refusal"
        first = message.splitlines()[0] if "\n" not in message[:300] else \
            " ".join(message.splitlines()[:2])
        return Outcome(case.id, outcome, f"{type(exc).__name__}: {first[:300]}",
                       time.perf_counter() - start), message
    except Exception as exc:  # not a KilnError: the suite counts it, the test fails on it
        return Outcome(case.id, "escaped", f"{type(exc).__name__}: {exc}"[:300],
                       time.perf_counter() - start), ""
    outcome, detail = check_built(case, model, art)
    return Outcome(case.id, outcome, detail, time.perf_counter() - start), ""


def assert_case(case: Case, root: Path) -> None:
    """The test of one case: built and bit-exact/close, or refused with the expected fix."""
    result, message = run_case(case, root)
    if case.refused:
        assert result.outcome == "refused with the fix", f"{case.id}: {result}"
        assert re.search(case.refused, message), (
            f"{case.id}: the refusal does not say {case.refused!r}:\n{message}")
    else:
        assert result.outcome in ("bit-exact", "close"), f"{case.id}: {result}"


def table(results: list[Outcome]) -> str:
    """Counts per outcome, then one row per case (markdown)."""
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    passed = counts["bit-exact"] + counts["close"]
    lines = [f"{len(results)} cases: {passed} pass ({passed / max(len(results), 1):.0%}); "
             + ", ".join(f"{o} {n}" for o, n in counts.items()), "",
             "| case | outcome | detail |", "|---|---|---|"]
    lines += [f"| {r.case} | {r.outcome} | {r.detail.replace('|', '/')} |" for r in results]
    return "\n".join(lines)


def main(suites: list[str]) -> None:
    from tests.frontend import test_hls4ml_brevitas_suite, test_hls4ml_pytorch_suite

    cases: list[Case] = []
    if "pytorch" in suites:
        cases += test_hls4ml_pytorch_suite.CASES
    if "brevitas" in suites:
        cases += test_hls4ml_brevitas_suite.CASES
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            result, _ = run_case(case, Path(tmp))
        print(f"{result.case}: {result.outcome} ({result.seconds:.0f} s) {result.detail}",
              file=sys.stderr, flush=True)
        results.append(result)
    print(table(results))


if __name__ == "__main__":
    main(sys.argv[1:] or ["pytorch", "brevitas"])
