"""kiln.fixed's activation tables equal the tables hls4ml's C++ init functions fill."""

from __future__ import annotations

import numpy as np
import pytest
from nnet_cases import LUTS, SOFTMAXES, LutConfig, SoftmaxConfig

from kiln.errors import PrecisionError
from kiln.fixed import lut_table, softmax_inv_table, softmax_stable_defaults, softmax_tables
from kiln.ir import FixedType, ceillog2


def _diff(kiln: np.ndarray, cpp: np.ndarray) -> str:
    if kiln.shape != cpp.shape:
        return f"shapes {kiln.shape} != {cpp.shape}"
    wrong = np.flatnonzero(kiln != cpp)
    return f"{wrong.size} entries differ, first {wrong[:5]}: kiln {kiln[wrong[:5]]} " \
           f"C++ {cpp[wrong[:5]]}"


@pytest.mark.parametrize("config", LUTS, ids=lambda c: c.name)
def test_lut_table(config: LutConfig, nnet_results) -> None:  # type: ignore[no-untyped-def]
    kiln = lut_table(config.function, config.table_size, config.table_type)
    cpp = nnet_results.lut_tables[config.name]
    assert np.array_equal(kiln, cpp), _diff(kiln, cpp)


@pytest.mark.parametrize("config", SOFTMAXES, ids=lambda c: c.name)
def test_softmax_tables(config: SoftmaxConfig, nnet_results) -> None:  # type: ignore[no-untyped-def]
    exp, inv = config.tables()
    cpp_exp, cpp_inv = nnet_results.exp_tables[config.name], nnet_results.inv_tables[config.name]
    assert np.array_equal(exp, cpp_exp), _diff(exp, cpp_exp)
    assert np.array_equal(inv, cpp_inv), _diff(inv, cpp_inv)


def test_infinities_in_tables() -> None:
    """1/0 and exp overflow are +inf in float: SAT keeps the largest code, WRAP gives 0."""
    addr = FixedType(12, 4, signed=False)
    assert softmax_inv_table(16, addr, FixedType(18, 8, True, "RND", "SAT"))[0] == 2**17 - 1
    assert softmax_inv_table(16, addr, FixedType(18, 8))[0] == 0
    assert softmax_inv_table(16, addr, FixedType(18, 8, True, "RND", "SAT_ZERO"))[0] == 0
    exp, _ = softmax_tables("latency", FixedType(16, 8), exp_table_type=FixedType(18, 8),
                            inv_table_type=FixedType(18, 8), inv_inp_type=addr,
                            exp_table_size=512, inv_table_size=16)
    assert exp[255] == 0  # exp(127.5) = inf in float, wrapped


def test_stable_defaults_follow_the_vivado_template() -> None:
    assert softmax_stable_defaults(FixedType(18, 7), 1024) == (FixedType(17, 6, False), 1024)
    assert softmax_stable_defaults(FixedType(8, 3), 1024) == (FixedType(7, 2, False), 128)
    assert softmax_stable_defaults(FixedType(8, 3, False), 1024) == (FixedType(8, 3, False), 1024)


def test_ceillog2_matches_nnet_helpers() -> None:
    assert [ceillog2(x) for x in (1, 2, 3, 4, 5, 1000, 1024, 1025)] == [1, 1, 2, 2, 3, 10, 10, 11]


@pytest.mark.parametrize(("size", "addr", "match"), [
    (1000, FixedType(18, 8), "not a power of two"),
    (1024, FixedType(8, 3), "only 8 bits"),
])
def test_impossible_softmax_tables_are_refused(size: int, addr: FixedType, match: str) -> None:
    with pytest.raises(PrecisionError, match=match):
        softmax_inv_table(size, addr, FixedType(18, 8))
