"""Activation configurations run through hls4ml's own nnet_activation.h with g++.

One program (built once per session, see conftest.py) dumps every configuration's tables with
hls4ml's init functions and runs ``nnet::sigmoid`` / ``nnet::tanh`` / ``nnet::softmax`` on
many inputs; test_tables.py and test_activations.py compare kiln with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from ap_harness import Case, cpp_type

from kiln.fixed import lut_table, softmax_stable_defaults, softmax_tables
from kiln.ir import LUT_IN_RANGE, FixedType, Lut, Softmax

F = FixedType
RS = ("RND", "SAT")  # hls4ml's softmax table/accum modes


@dataclass(frozen=True)
class LutConfig:
    name: str
    function: str
    table_size: int
    table_type: FixedType
    in_type: FixedType
    out_type: FixedType

    def node(self) -> Lut:
        return Lut(name=self.name, source="x", shape=(1,), out_type=self.out_type,
                   function=self.function, in_range=LUT_IN_RANGE[self.function],
                   table=lut_table(self.function, self.table_size, self.table_type),
                   table_type=self.table_type)


@dataclass(frozen=True)
class SoftmaxConfig:
    name: str
    implementation: str
    n: int
    in_type: FixedType
    out_type: FixedType
    exp_table_type: FixedType = F(18, 8, True, *RS)
    inv_table_type: FixedType = F(18, 8, True, *RS)
    accum_type: FixedType = F(18, 8, True, *RS)
    inv_inp_type: FixedType = F(18, 8, True, *RS)
    table_size: int = 1024
    exp_scale: float = 1.0
    inp_norm_override: FixedType | None = field(default=None)

    @property
    def inp_norm_type(self) -> FixedType:
        if self.implementation != "stable":
            return F(1, 0)  # hls4ml writes ap_fixed<1,0>: unused
        return self.inp_norm_override or softmax_stable_defaults(self.in_type, self.table_size)[0]

    @property
    def exp_table_size(self) -> int:
        if self.implementation == "stable" and self.inp_norm_override is None:
            return softmax_stable_defaults(self.in_type, self.table_size)[1]
        return self.table_size

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        return softmax_tables(
            self.implementation, self.in_type, exp_table_type=self.exp_table_type,
            inv_table_type=self.inv_table_type, inv_inp_type=self.inv_inp_type,
            exp_table_size=self.exp_table_size, inv_table_size=self.table_size,
            inp_norm_type=self.inp_norm_override, exp_scale=self.exp_scale)

    def node(self) -> Softmax:
        exp, inv = self.tables()
        return Softmax(name=self.name, source="x", shape=(self.n,), out_type=self.out_type,
                       implementation=self.implementation, exp_table=exp, inv_table=inv,
                       exp_table_type=self.exp_table_type, inv_table_type=self.inv_table_type,
                       accum_type=self.accum_type, inv_inp_type=self.inv_inp_type,
                       inp_norm_type=self.inp_norm_type)


JET = dict(in_type=F(18, 7), out_type=F(16, 6))  # the jet tagger's 'output' -> softmax

LUTS = [
    LutConfig("sigmoid_default", "sigmoid", 1024, F(18, 8), F(16, 6), F(16, 6)),
    # 30-bit tables resolve single-precision libm results (expf/tanhf, not exp/tanh).
    LutConfig("sigmoid_fine_input", "sigmoid", 1000, F(30, 0, False, *RS), F(10, -2),
              F(8, 0, False, "RND_CONV", "SAT")),
    LutConfig("sigmoid_coarse_input", "sigmoid", 4096, F(18, 8), F(8, 12), F(12, 2)),
    LutConfig("sigmoid_tiny_table_unsigned_input", "sigmoid", 8, F(10, 1, True, *RS),
              F(12, 4, False), F(8, 1)),
    LutConfig("tanh_default", "tanh", 1024, F(18, 8), F(16, 6), F(16, 6)),
    # |x| * 2048 / 8 passes 2**31: data_round wraps as a C int (large inputs hit entry 0).
    LutConfig("tanh_wide_input", "tanh", 2048, F(30, 1, True, *RS), F(40, 28),
              F(8, 1, True, *RS)),
]

SOFTMAXES = [
    SoftmaxConfig("jet_stable", "stable", 5, **JET),
    SoftmaxConfig("jet_latency", "latency", 5, **JET),
    # A SAT_ZERO accumulator: the sum of ten exps overflows and the tree order shows.
    SoftmaxConfig("stable_sat_zero_sum", "stable", 10, F(12, 5), F(8, 0, False, *RS),
                  exp_table_type=F(12, 4, True, *RS),
                  accum_type=F(10, 3, True, "RND", "SAT_ZERO"),
                  inv_inp_type=F(10, 3, True, *RS), inv_table_type=F(14, 6, True, *RS),
                  table_size=256),
    # exp(127) is inf in float; WRAP tables turn inf (and 1/0) into 0 and large exps into
    # negative codes, which a saturating accumulator then sums in tree order.
    SoftmaxConfig("latency_wrapping_tables", "latency", 5, F(16, 8), F(16, 6, True, *RS),
                  exp_table_type=F(18, 8), accum_type=F(14, 9, True, "TRN", "SAT"),
                  inv_inp_type=F(12, 4, False), inv_table_type=F(16, 6), table_size=512),
    SoftmaxConfig("stable_unsigned_input", "stable", 8, F(10, 4, False),
                  F(18, 2, True, "RND_CONV", "SAT_SYM"),
                  exp_table_type=F(16, 1, False, *RS), accum_type=F(16, 4, False, *RS),
                  inv_inp_type=F(16, 4, False, *RS),
                  inv_table_type=F(18, 8, False, "RND", "SAT_ZERO"), exp_scale=0.5),
    SoftmaxConfig("stable_narrow_input", "stable", 4, F(8, 3), F(16, 6), table_size=256),
    SoftmaxConfig("latency_tiny_tables", "latency", 2, F(6, 2), F(10, 2, True, *RS),
                  inv_inp_type=F(8, 3, True, *RS), table_size=16),
    SoftmaxConfig("stable_given_inp_norm", "stable", 6, F(14, 5), F(16, 6),
                  exp_table_type=F(32, 2, True, *RS), inv_table_type=F(32, 10, True, *RS),
                  inp_norm_override=F(10, 3, False, "RND", "SAT"), table_size=128),
]


# ----------------------------------------------------------------------------- C++ cases

def _lut_cases(k: int, c: LutConfig) -> list[Case]:
    cfg = f"lut_cfg_{k}"
    decl = (f"struct {cfg} : nnet::activ_config {{ static const unsigned n_in = 1; "
            f"static const unsigned table_size = {c.table_size}; "
            f"typedef {cpp_type(c.table_type)} table_t; }};")
    table = Case(f"""
    static {cfg}::table_t t[{c.table_size}];
    nnet::init_{c.function}_table<{cfg}, {c.table_size}>(t);
    for (unsigned i = 0; i < {c.table_size}; ++i) out.push_back(t[i].V.to_int64());""", decl)
    run = Case(f"""
    for (long long k = 0; k < n; ++k) {{
        {cpp_type(c.in_type)} x[1]; x[0].V = in[k];
        {cpp_type(c.out_type)} y[1];
        nnet::{c.function}<{cpp_type(c.in_type)}, {cpp_type(c.out_type)}, {cfg}>(x, y);
        out.push_back(y[0].V.to_int64());
    }}""", decl)
    return [table, run]


def _softmax_config(name: str, c: SoftmaxConfig) -> str:
    from hls4ml.backends.vivado.passes.core_templates import softmax_config_template

    class Named:
        def __init__(self, t: FixedType) -> None:
            self.name = cpp_type(t)

    params = dict(
        type=name, index="", n_in=c.n, n_slice=c.n, n_outer=1, n_inner=1,
        parallelization_factor=-1, exp_table_size=c.exp_table_size,
        inv_table_size=c.table_size, iotype="io_parallel", reuse=1, axis=-1,
        implementation=c.implementation, exp_scale=c.exp_scale,
        exp_table_t=Named(c.exp_table_type), inv_table_t=Named(c.inv_table_type),
        accum_t=Named(c.accum_type), inv_inp_t=Named(c.inv_inp_type),
        inp_norm_t_str=cpp_type(c.inp_norm_type) if c.implementation == "stable"
        else "ap_fixed<1,0>",
    )
    return softmax_config_template.format(**params)


def _softmax_cases(k: int, c: SoftmaxConfig) -> list[Case]:
    cfg = f"sm{k}_config"
    decl = _softmax_config(f"sm{k}", c)
    addr = f"{cfg}::inp_norm_t" if c.implementation == "stable" else cpp_type(c.in_type)
    negative = "true" if c.implementation == "stable" else "false"
    exp = Case(f"""
    static {cfg}::exp_table_t t[{cfg}::exp_table_size];
    nnet::init_exp_table<{addr}, {cfg}>(t, {negative});
    for (unsigned i = 0; i < {cfg}::exp_table_size; ++i) out.push_back(t[i].V.to_int64());""",
                decl)
    inv = Case(f"""
    static {cfg}::inv_table_t t[{cfg}::inv_table_size];
    nnet::init_invert_table<{cfg}::inv_inp_t, {cfg}>(t);
    for (unsigned i = 0; i < {cfg}::inv_table_size; ++i) out.push_back(t[i].V.to_int64());""",
               decl)
    tin, tout = cpp_type(c.in_type), cpp_type(c.out_type)
    run = Case(f"""
    for (long long r = 0; r < n / {c.n}; ++r) {{
        {tin} x[{c.n}]; {tout} y[{c.n}];
        for (int j = 0; j < {c.n}; ++j) x[j].V = in[r * {c.n} + j];
        nnet::softmax<{tin}, {tout}, {cfg}>(x, y);
        for (int j = 0; j < {c.n}; ++j) out.push_back(y[j].V.to_int64());
    }}""", decl)
    return [exp, inv, run]


# ----------------------------------------------------------------------------- inputs

def lut_inputs(c: LutConfig, rng: np.random.Generator) -> np.ndarray:
    t = c.in_type
    if t.width <= 16:
        return np.arange(t.min_code, t.max_code + 1, dtype=np.int64)
    edges = [t.min_code, t.max_code, 0, -1, 1, t.min_code + 1, t.max_code - 1]
    near = rng.integers(-(1 << (t.frac + 5)), 1 << (t.frac + 5), 20000)  # inside the table
    return np.concatenate([edges, near, rng.integers(t.min_code, t.max_code, 20000)])


def softmax_inputs(c: SoftmaxConfig, rng: np.random.Generator, rows: int = 4000) -> np.ndarray:
    """Rows of ``c.n`` codes: uniform, clustered, nearly equal and extreme values."""
    t, n = c.in_type, c.n
    lo, hi = t.min_code, t.max_code
    span = hi - lo + 1
    uniform = rng.integers(lo, hi + 1, (rows, n))
    base = rng.integers(lo, hi + 1, (rows, 1))
    clustered = np.clip(base + rng.integers(-span // 16, span // 16 + 1, (rows, n)), lo, hi)
    near = np.clip(base + rng.integers(0, 1 << max(t.frac + 1, 1), (rows, n)), lo, hi)
    extremes = rng.choice(np.array(sorted({lo, hi, 0, 1, lo + 1, hi - 1, max(lo, -1)}),
                                   dtype=np.int64), (rows // 4, n))
    equal = np.repeat(rng.integers(lo, hi + 1, (rows // 8, 1)), n, axis=1)
    return np.concatenate([uniform, clustered, near, extremes, equal]).astype(np.int64)


@dataclass(frozen=True)
class NnetResults:
    """What the C++ program printed, by configuration name."""

    lut_tables: dict[str, np.ndarray]
    lut_runs: dict[str, tuple[np.ndarray, np.ndarray]]  # inputs, outputs
    exp_tables: dict[str, np.ndarray]
    inv_tables: dict[str, np.ndarray]
    softmax_runs: dict[str, tuple[np.ndarray, np.ndarray]]


def run_all() -> NnetResults:
    from ap_harness import build

    rng = np.random.default_rng(7)
    cases: list[Case] = []
    inputs: list[np.ndarray] = []
    for k, c in enumerate(LUTS):
        cases += _lut_cases(k, c)
        inputs += [np.zeros(0, np.int64), lut_inputs(c, rng)]
    for k, c in enumerate(SOFTMAXES):
        cases += _softmax_cases(k, c)
        inputs += [np.zeros(0, np.int64), np.zeros(0, np.int64), softmax_inputs(c, rng)]
    outputs = iter(build(cases, includes=("nnet_utils/nnet_activation.h",)).run(inputs))
    given = iter(inputs)
    res = NnetResults({}, {}, {}, {}, {})
    for c in LUTS:
        next(given)
        res.lut_tables[c.name] = next(outputs)
        res.lut_runs[c.name] = (next(given), next(outputs))
    for c in SOFTMAXES:
        next(given), next(given)
        res.exp_tables[c.name] = next(outputs)
        res.inv_tables[c.name] = next(outputs)
        x = next(given)
        res.softmax_runs[c.name] = (x, next(outputs).reshape(x.shape))
    return res


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
