"""hls4ml's QKeras test suite (``test/pytest/test_qkeras.py``), its models re-created for kiln.

Each case is one model of that suite (one parameter set of one of its tests; the backends
and ``io_type`` it sweeps are not cases: kiln has one backend, and each case takes the
``io_type`` kiln builds it in). Every case runs twice: as hls4ml's test writes it, and with
a ``QActivation(quantized_bits(...))`` put in front of the input (kiln's bit-exact path:
hls4ml's ``bit_exact`` inference then types every tensor from the quantizers).

A case ends in one of:

- ``bit-exact``: kiln.fixed == HLS C-sim == QKeras, integer equality on every sample;
- ``approximate``: kiln.fixed == HLS C-sim, QKeras's own quantizers leave a type undefined
  (a table activation, a layer without an output quantizer) and the manifest does not claim
  equality; the distance is reported in output LSBs;
- ``refused``: a KilnError (the message is kept: it must name the fix);
- ``not built by QKeras``: QKeras itself cannot build or run the model here (its recurrent
  layers call ``tf.nest.is_sequence``, gone from TensorFlow 2.14); not counted in the rates;
- ``wrong``: anything else: levels that disagree, a claimed-exact model that differs from
  QKeras, a model whose quantizers define every type yet differs, or an exception that is
  not a KilnError.

``python -m tests.frontend._qkeras_suite [--out DIR] [--jsonl FILE] [CASE ...]`` runs the
cases and prints the table docs/verification.md shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Samples per case: QKeras, the C simulation and kiln.fixed each see all of them.
SAMPLES = 300


@dataclass(frozen=True)
class SuiteCase:
    """One model of hls4ml's QKeras suite.

    ``layers`` builds the layers after the input (fresh objects each call); ``exact`` says
    whether QKeras's quantizers define every type (so the answer must be equal, not close);
    ``input_bits`` is the quantizer put in front for the quantized-input variant, chosen to
    hold hls4ml's test data exactly; ``data`` draws the test inputs.
    """

    name: str
    hls4ml_test: str
    input_shape: tuple[int, ...]
    layers: Callable[[], list[Any]]
    exact: bool = True
    io_type: str = "io_parallel"
    options: dict[str, Any] = field(default_factory=dict)
    input_bits: tuple[int, int] = (16, 5)
    data: str = "unit"  # unit: [0, 1) on 2^-10; negative: (-1, 0]; int8: quantized_bits(8, 0)
    weights: str = "uniform"  # uniform: U(-1, 1) drawn from the case name; keep: initializers


def _q() -> Any:
    import qkeras

    return qkeras


def _dense_relu(alpha: Any) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        q = _q()
        return [q.QActivation(q.quantized_bits(4, 0, alpha=1), name="inp_quant"),
                q.QDense(16, name="fc1", kernel_quantizer=q.quantized_bits(4, 0, alpha=alpha),
                         bias_quantizer=q.quantized_bits(4, 0, alpha=1)),
                q.QActivation(q.quantized_relu(4, 0), name="relu1")]
    return layers


def _activation(quantizer: str) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        q = _q()
        return [q.QActivation(eval(quantizer, vars(q)), name="quantizer")]
    return layers


def _btnn(kernel: str, activation: str, batchnorm: bool) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        from tensorflow import keras

        q = _q()
        found = [q.QDense(10, kernel_quantizer=eval(kernel, vars(q)),
                          bias_quantizer=q.quantized_bits(5, 2), name="dense")]
        if batchnorm:
            found.append(keras.layers.BatchNormalization(name="bn"))
        act = eval(activation, vars(q)) if "(" in activation else activation
        return [*found, q.QActivation(act, name="act")]
    return layers


def _kwarg(quantizer: str, activation: str) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        q = _q()
        return [q.QDense(10, activation=activation, name="qdense", kernel_quantizer=quantizer,
                         bias_quantizer=quantizer)]
    return layers


def _parsing() -> list[Any]:
    q = _q()
    return [q.QDense(8, kernel_quantizer=None, kernel_initializer="ones", bias_quantizer=None,
                     bias_initializer="zeros", activation="quantized_relu(8, 0)", name="dense")]


def _conv2dbn() -> list[Any]:
    q = _q()
    return [q.QConv2DBatchnorm(4, kernel_size=(3, 3), kernel_initializer="ones",
                               kernel_quantizer="quantized_bits(8, 0, alpha=1)",
                               bias_quantizer="quantized_bits(8, 0, alpha=1)",
                               bias_initializer="zeros", activation="quantized_relu(8, 0)",
                               name="qconv2dbn")]


def _depthwise() -> list[Any]:
    q = _q()
    return [q.QDepthwiseConv2D(kernel_size=(3, 3), name="dwconv",
                               depthwise_quantizer="quantized_bits(6, 0, alpha=1)",
                               bias_quantizer="quantized_bits(4, 0, alpha=1)",
                               activation="quantized_relu(3, 0)")]


def _po2_dense() -> list[Any]:
    q = _q()
    return [q.QDense(6, name="dense", kernel_quantizer=q.quantized_po2(18, max_value=2**20))]


def _recurrent(kind: str, bits: int) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        q = _q()
        quant = f"quantized_bits({bits}, 0, alpha=1)"
        extra: dict[str, Any] = ({"activation": "relu"} if kind == "QSimpleRNN" else
                                 {"activation": "tanh", "recurrent_activation": "sigmoid"})
        return [getattr(q, kind)(4, kernel_quantizer=quant, recurrent_quantizer=quant,
                                 bias_quantizer=quant, state_quantizer=quant, name="rnn",
                                 **extra)]
    return layers


def _separable(dims: int) -> Callable[[], list[Any]]:
    def layers() -> list[Any]:
        q = _q()
        cls = q.QSeparableConv1D if dims == 1 else q.QSeparableConv2D
        quant = q.quantized_bits(8, 3, alpha=1)
        return [cls(5, 3, depthwise_quantizer=quant, pointwise_quantizer=quant,
                    bias_quantizer=q.quantized_bits(8, 3, alpha=1), name="qsepconv_1")]
    return layers


def _cases() -> list[SuiteCase]:
    cases = [
        SuiteCase("dense_relu_alpha1", "test_single_dense_activation_exact", (16,),
                  _dense_relu(1)),
        SuiteCase("dense_relu_auto_po2", "test_single_dense_activation_exact", (16,),
                  _dense_relu("auto_po2")),
    ]
    for quantizer in ("quantized_tanh(8)", "quantized_sigmoid(5)",
                      "quantized_sigmoid(7, use_real_sigmoid=True)"):
        cases.append(SuiteCase(f"special_{quantizer}", "test_quantizer_special", (1,),
                               _activation(quantizer), exact=False))
    for number, (kernel, activation, batchnorm) in enumerate([
        ("ternary(alpha=1)", "binary_tanh", False), ("binary()", "binary_tanh", False),
        ("ternary(alpha='auto')", "binary()", True), ("ternary(alpha='auto')", "ternary", True),
        ("ternary(alpha='auto')", "ternary(threshold=0.2)", True),
        ("ternary(alpha='auto')", "ternary(threshold=0.8)", True),
        ("binary()", "binary()", False),
    ], start=1):
        cases.append(SuiteCase(f"btnn_{number}", "test_btnn", (10,),
                               _btnn(kernel, activation, batchnorm), exact=not batchnorm))
    for quantizer in ("quantized_bits(8, 0)", "quantized_bits(8, 4)", "quantized_bits(4, 2)",
                      "quantized_bits(4, 0)", "quantized_bits(10, 0)", "quantized_relu(4)",
                      "quantized_relu(4, 2)", "quantized_relu(8)", "quantized_relu(8, 4)",
                      "quantized_relu(10)", "quantized_relu(10, 5)"):
        cases.append(SuiteCase(f"quantizer_{quantizer}", "test_quantizer", (1,),
                               _activation(quantizer)))
    for quantizer in ("quantized_relu(4, negative_slope=0.5)",
                      "quantized_relu(8, 4, negative_slope=1.0)",
                      "quantized_relu(10, 2, negative_slope=0.25)"):
        cases.append(SuiteCase(f"negative_slope_{quantizer}", "test_relu_negative_slope", (1,),
                               _activation(quantizer), data="negative"))
    for kernel, activation in (("binary", "binary"), ("ternary", "ternary"),
                               ("quantized_bits(4, 0, alpha=1)", "quantized_relu(2, 0)"),
                               ("quantized_bits(4, 0, alpha=1)", "quantized_relu(4, 0)"),
                               ("quantized_bits(4, 0, alpha=1)", "quantized_relu(8, 0)")):
        cases.append(SuiteCase(f"kwarg_{kernel}_{activation}", "test_qactivation_kwarg", (10,),
                               _kwarg(kernel, activation)))
    cases += [
        SuiteCase("quantizer_parsing", "test_quantizer_parsing", (10,), _parsing,
                  options={"precision": "fixed<24,8>"}, weights="keep"),
        SuiteCase("qconv2dbn", "test_qconv2dbn", (8, 8, 1), _conv2dbn, io_type="io_stream",
                  options={"precision": "fixed<24,8>"}, weights="keep"),
        SuiteCase("qdepthwiseconv2d", "test_qdepthwiseconv2d", (32, 32, 3), _depthwise,
                  io_type="io_stream", options={"precision": "fixed<24,8>"}),
        SuiteCase("quantised_po2_bit_width", "test_quantised_po2_bit_width", (26,), _po2_dense,
                  exact=False, options={"precision": "fixed<62,32>"}),  # 64: kiln's widest is 62
        SuiteCase("qsimplernn", "test_qsimplernn", (5, 2), _recurrent("QSimpleRNN", 16),
                  exact=False, options={"precision": "fixed<16,1>"}),
        SuiteCase("qlstm", "test_qlstm", (5, 2), _recurrent("QLSTM", 8), exact=False,
                  options={"precision": "fixed<8,1>"}),
        SuiteCase("qgru", "test_qgru", (5, 2), _recurrent("QGRU", 8), exact=False,
                  options={"precision": "fixed<8,1>"}),
    ]
    for dims, shape in ((1, (13, 20)), (2, (13, 21, 20))):
        cases.append(SuiteCase(f"qseparableconv{dims}d", f"test_qseparableconv{dims}d", shape,
                               _separable(dims), io_type="io_stream", input_bits=(8, 0),
                               data="int8", options={"input_precision": "fixed<8,1>",
                                                     "precision": "fixed<23,7>"}))
    return cases


CASES = {case.name: case for case in _cases()}


def build_model(case: SuiteCase, input_quantizer: bool) -> Any:
    """The case's Keras model, with ``QActivation(quantized_bits(*case.input_bits))`` in
    front when ``input_quantizer``; weights U(-1, 1) from a generator seeded by the name."""
    from tensorflow import keras

    q = _q()
    inp = keras.Input(case.input_shape, name="x")
    x = inp
    if input_quantizer:
        x = q.QActivation(q.quantized_bits(*case.input_bits, alpha=1), name="input_q")(x)
    for layer in case.layers():
        x = layer(x)
    model = keras.Model(inp, x, name="suite")
    if case.weights == "uniform":
        rng = np.random.default_rng(list(case.name.encode()))
        model.set_weights([
            rng.uniform(0.5, 1.5, w.shape) if "variance" in v.name else rng.uniform(-1, 1, w.shape)
            for v, w in zip(model.weights, model.get_weights(), strict=True)])
    if case.hls4ml_test == "test_quantised_po2_bit_width":
        layer = model.get_layer("dense")
        weights = layer.get_weights()
        weights[0] = 2.0**18 * np.random.default_rng(7).random(weights[0].shape)
        layer.set_weights(weights)
    return model


def case_inputs(case: SuiteCase, samples: int = SAMPLES) -> np.ndarray:
    """hls4ml's test data for the case: U[0, 1) (negated for the leaky-ReLU tests) on the
    2^-10 grid, or quantized_bits(8, 0) of U[0, 1) for the separable convolutions."""
    rng = np.random.default_rng(list(case.name.encode()))
    x = rng.random((samples, *case.input_shape))
    if case.data == "int8":
        return np.asarray(_q().quantized_bits(8, 0, alpha=1)(x.astype(np.float32)),
                          dtype=np.float64)
    x = np.round(x * 2**10) * 2.0**-10
    return -x if case.data == "negative" else x


@dataclass(frozen=True)
class Outcome:
    """What one case gave (see the module doc for ``status``)."""

    case: str
    input_quantizer: bool
    status: str
    detail: str = ""
    claimed_exact: bool | None = None
    max_lsb: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_case(case: SuiteCase, input_quantizer: bool, out: Path, samples: int = SAMPLES,
             csim: bool = True) -> Outcome:
    """Convert, lower and C-simulate one case and compare kiln.fixed, C-sim and QKeras
    (``csim=False``: kiln.fixed and QKeras only, for a quick look)."""
    from kiln import frontend, hls
    from kiln.compiler import BuildOptions
    from kiln.errors import KilnError
    from kiln.fixed import execute, from_float, to_float

    start = time.perf_counter()
    variant = "input_q" if input_quantizer else "bare"
    folder = "".join(c if c.isalnum() else "_" for c in f"{case.name}_{variant}")

    def outcome(status: str, detail: str = "", **kw: Any) -> Outcome:
        return Outcome(case.name, input_quantizer, status, detail,
                       seconds=round(time.perf_counter() - start, 1), **kw)

    try:
        model = build_model(case, input_quantizer)
    except Exception as exc:  # QKeras's recurrent layers fail under this TensorFlow
        return outcome("not built by QKeras", f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        options = BuildOptions(io_type=case.io_type, **case.options)
        model_graph = frontend.convert(model, out / folder, options)
        graph = frontend.lower(model_graph, "suite", options)
        claimed = (frontend.reference_is_bit_exact(model, options)
                   and frontend.float32_exact(graph))
        library = hls.write_and_compile(model_graph) if csim else None
    except KilnError as exc:
        return outcome("refused", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # the suite records what escapes kiln's error handling
        return outcome("wrong", f"escaped {type(exc).__name__}: {exc}\n"
                                f"{traceback.format_exc(limit=-3)}")
    x = case_inputs(case, samples)
    in_type, out_type = graph.input.out_type, graph.output.out_type
    codes = from_float(torch.from_numpy(x.reshape(samples, -1)), in_type)
    kiln_codes = execute(graph, codes)["output"].numpy().reshape(samples, -1)
    csim_codes = kiln_codes
    if library is not None:
        simulation = hls.CSim(library, in_type, out_type, graph.input.size, graph.output.size)
        csim_codes = np.asarray(simulation.run(codes.numpy())).reshape(samples, -1)
    seen = to_float(codes, in_type).numpy().reshape(x.shape)
    want = np.asarray(model.predict(seen.astype(np.float32), verbose=0, batch_size=1024),
                      dtype=np.float64).reshape(samples, -1)
    got = to_float(torch.from_numpy(kiln_codes), out_type).numpy()
    level_mismatches = int(np.any(kiln_codes != csim_codes, axis=1).sum())
    differ = int(np.any(got != want, axis=1).sum())
    max_lsb = float(np.abs(got - want).max() / out_type.lsb)
    where = (f"{differ}/{samples} samples differ from QKeras (max {max_lsb:.3g} LSB of "
             f"{out_type}); manifest claims bit-exact: {claimed}")
    if level_mismatches:
        return outcome("wrong", f"kiln.fixed != C-sim on {level_mismatches} samples; {where}",
                       claimed_exact=claimed, max_lsb=max_lsb)
    if differ == 0:
        return outcome("bit-exact", where, claimed_exact=claimed, max_lsb=0.0)
    if claimed or case.exact:
        return outcome("wrong", where, claimed_exact=claimed, max_lsb=max_lsb)
    return outcome("approximate", where, claimed_exact=claimed, max_lsb=max_lsb)


STATUSES = ("bit-exact", "approximate", "refused", "wrong")
NOT_COUNTED = "not built by QKeras"


def table(outcomes: Sequence[Outcome]) -> str:
    """The pass-rate table: one row per variant and the total, then each case's status."""
    lines = ["| variant | cases | " + " | ".join(STATUSES) + " |",
             "|---|---|" + "---|" * len(STATUSES)]
    counted = [o for o in outcomes if o.status != NOT_COUNTED]
    for label, part in (("as hls4ml writes it", [o for o in counted if not o.input_quantizer]),
                        ("with an input quantizer", [o for o in counted if o.input_quantizer]),
                        ("all", counted)):
        counts = [sum(o.status == s for o in part) for s in STATUSES]
        cells = [f"{c} ({c / max(len(part), 1):.0%})" for c in counts]
        named = sum(o.status == "refused" and "Fix:" in o.detail for o in part)
        cells[STATUSES.index("refused")] += f", {named} naming the fix"
        lines.append(f"| {label} | {len(part)} | " + " | ".join(cells) + " |")
    lines.append("")
    for o in outcomes:
        detail = o.detail.splitlines() or [""]
        first = next((line.strip() for line in detail if line.strip().startswith("- ")),
                     detail[0])[:300]
        lines.append(f"- {o.case} [{'input_q' if o.input_quantizer else 'bare'}]: {o.status}"
                     f" ({o.seconds:.0f} s) {first}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.frontend._qkeras_suite",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("build/qkeras_suite"))
    parser.add_argument("--jsonl", type=Path, default=None)
    parser.add_argument("--summarize", type=Path, default=None)
    parser.add_argument("--no-csim", action="store_true", help="kiln.fixed vs QKeras only")
    args = parser.parse_args(argv)
    if args.summarize:
        rows = [json.loads(line) for line in args.summarize.read_text().splitlines() if line]
        print(table([Outcome(**row) for row in rows]))
        return 0
    outcomes = []
    for name in args.cases or list(CASES):
        for input_quantizer in (False, True):
            result = run_case(CASES[name], input_quantizer, args.out,
                              csim=not args.no_csim)
            outcomes.append(result)
            print(f"{result.status:11s} {name} {'input_q' if input_quantizer else 'bare'} "
                  f"{result.seconds:.0f}s {result.detail.splitlines()[0][:200]}", flush=True)
            if args.jsonl:
                with args.jsonl.open("a") as f:
                    f.write(json.dumps(result.to_dict()) + "\n")
    print(table(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
