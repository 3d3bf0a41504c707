"""hls4ml's activation tables (Vivado backend), computed exactly as its C++ init code does.

hls4ml 1.3.0 fills its lookup tables at run time of the C simulation
(``nnet_utils/nnet_activation.h``): ``init_sigmoid_table``, ``init_tanh_table``,
``init_exp_table`` and ``init_invert_table``. The values go through float32 arithmetic and
glibc's single-precision ``expf`` / ``tanhf`` (``std::exp(float)`` and ``tanh(float)``; the
latter resolves to ``std::tanh(float)`` through the ``using std::tanh`` that ``<math.h>``
puts in the global namespace), then through ap_fixed's conversion from double. kiln calls
the same libm functions through ctypes, so its table codes equal the C simulation's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import PrecisionError
from kiln.fixed._quantize import from_float
from kiln.ir import LUT_IN_RANGE, SOFTMAX_IMPLEMENTATIONS, FixedType, ceillog2

__all__ = [
    "elu_table",
    "lut_table",
    "sigmoid_table",
    "softmax_exp_table",
    "softmax_inv_table",
    "softmax_stable_defaults",
    "softmax_tables",
    "tanh_table",
]



@functools.cache
def _libm() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libm.so.6")
    except OSError:  # not glibc: the C library g++ links against on this platform
        return ctypes.CDLL(ctypes.util.find_library("m") or ctypes.util.find_library("c"))


@functools.cache
def _float_fn(name: str) -> Callable[[float], float]:
    fn = getattr(_libm(), name)
    fn.argtypes = [ctypes.c_float]
    fn.restype = ctypes.c_float
    return fn  # type: ignore[no-any-return]


def _map_float(name: str, values: NDArray[Any]) -> NDArray[Any]:
    """Apply libm's single-precision ``name`` (``expf``, ``tanhf``) to float32 values."""
    fn = _float_fn(name)
    return np.array([fn(float(v)) for v in values.astype(np.float32)], dtype=np.float32)


def _to_codes(values: NDArray[Any], t: FixedType) -> NDArray[Any]:
    """ap_fixed's conversion from float/double (both go through double), as int64 codes."""
    return from_float(torch.from_numpy(values.astype(np.float64)), t).numpy()


def _check_size(table_size: int, what: str) -> None:
    if not isinstance(table_size, int) or table_size < 1:
        raise PrecisionError(f"{what} table size must be a positive integer, not {table_size!r}")


def _lut_inputs(table_size: int, in_range: int) -> NDArray[Any]:
    # float in_val = 2 * R * (ii - float(N) / 2.0) / float(N);  (double math, stored as float)
    ii = np.arange(table_size, dtype=np.float64)
    n = float(np.float32(table_size))
    return ((2.0 * in_range * (ii - n / 2.0)) / n).astype(np.float32)


def sigmoid_table(table_size: int, table_type: FixedType) -> NDArray[Any]:
    """Codes of ``init_sigmoid_table``: ``table_t(float(1.0 / (1 + expf(-x))))``."""
    _check_size(table_size, "Sigmoid")
    x = _lut_inputs(table_size, LUT_IN_RANGE["sigmoid"])
    e = _map_float("expf", -x)
    denominator = np.float32(1) + e  # int + float: a float32 addition
    with np.errstate(divide="ignore"):
        values = (1.0 / denominator.astype(np.float64)).astype(np.float32)  # double -> float
    return _to_codes(values, table_type)


def tanh_table(table_size: int, table_type: FixedType) -> NDArray[Any]:
    """Codes of ``init_tanh_table``: ``table_t(tanhf(x))``."""
    _check_size(table_size, "Tanh")
    x = _lut_inputs(table_size, LUT_IN_RANGE["tanh"])
    return _to_codes(_map_float("tanhf", x), table_type)


def elu_table(table_size: int, table_type: FixedType) -> NDArray[Any]:
    """Codes of ``init_elu_table``: ``table_t(float(expf(x) - 1.0))`` at
    ``x = float(-8.0 * i / float(N))`` (double arithmetic, stored as float)."""
    _check_size(table_size, "ELU")
    ii = np.arange(table_size, dtype=np.float64)
    x = ((-8.0 * ii) / float(np.float32(table_size))).astype(np.float32)
    # std::exp(float) - 1. is a double subtraction; elu_fcn_float returns it as float.
    values = (_map_float("expf", x).astype(np.float64) - 1.0).astype(np.float32)
    return _to_codes(values, table_type)


def lut_table(function: str, table_size: int, table_type: FixedType) -> NDArray[Any]:
    """The table of a Lut activation: ``function`` is ``"sigmoid"`` or ``"tanh"``."""
    if function == "sigmoid":
        return sigmoid_table(table_size, table_type)
    if function == "tanh":
        return tanh_table(table_size, table_type)
    raise PrecisionError(
        f"No hls4ml table for activation {function!r}; kiln builds tables for "
        f"{', '.join(LUT_IN_RANGE)}"
    )


def _index_values(table_size: int, addr_type: FixedType, what: str) -> NDArray[Any]:
    """``softmax_real_val_from_idx``: the value of ``addr_type`` whose top N bits are ``i``."""
    _check_size(table_size, what)
    n = ceillog2(table_size)
    if table_size != 1 << n:
        raise PrecisionError(
            f"Softmax {what} table size {table_size} is not a power of two: hls4ml addresses "
            f"it with the top {n} bits of its input and reads past its end. Use a table size "
            "that is a power of two."
        )
    if n > addr_type.width:
        raise PrecisionError(
            f"Softmax {what} table has {table_size} entries ({n} address bits) but is "
            f"addressed by type {addr_type} of only {addr_type.width} bits; use a table size "
            f"of at most {2 ** addr_type.width}"
        )
    codes = np.arange(table_size, dtype=np.int64) << (addr_type.width - n)
    if addr_type.signed:
        codes = np.where(codes >= 1 << (addr_type.width - 1), codes - (1 << addr_type.width),
                         codes)
    return np.ldexp(codes.astype(np.float64), -addr_type.frac).astype(np.float32)


def softmax_exp_table(table_size: int, addr_type: FixedType, table_type: FixedType, *,
                      negative: bool, exp_scale: float = 1.0) -> NDArray[Any]:
    """Codes of ``init_exp_table<addr_type>``: ``table_t(expf(±float(x_i) * exp_scale))``.

    ``negative`` is True for the 'stable' implementation (the table is addressed by
    ``x_max - x``) and False for 'latency' (addressed by ``x``).
    """
    x = _index_values(table_size, addr_type, "exp") * np.float32(exp_scale)
    if negative:
        x = -x
    return _to_codes(_map_float("expf", x), table_type)


def softmax_inv_table(table_size: int, addr_type: FixedType, table_type: FixedType) -> NDArray[Any]:
    """Codes of ``init_invert_table<addr_type>``: ``table_t(1 / float(x_i))``.

    Entry 0 is ``1 / 0.0f = +inf``, which ap_fixed turns into the largest code under SAT and
    SAT_SYM and into 0 under WRAP and SAT_ZERO.
    """
    x = _index_values(table_size, addr_type, "inverse")
    with np.errstate(divide="ignore"):
        values = np.float32(1) / x
    return _to_codes(values, table_type)


def softmax_stable_defaults(in_type: FixedType, table_size: int) -> tuple[FixedType, int]:
    """The normalized-input type and exp table size hls4ml's Vivado template derives.

    For the 'stable' implementation without an explicit ``inp_norm_t``,
    ``SoftmaxConfigTemplate`` uses ``ap_ufixed<W - S, I - S>`` (S = 1 for a signed input,
    TRN/WRAP: ``x_max - x`` wraps when it reaches ``2**(I - S)``) and, for a signed input,
    shrinks the exp table to ``min(table_size, 2**(W - 1))`` entries.
    """
    s = int(in_type.signed)
    inp_norm = FixedType(in_type.width - s, in_type.integer - s, signed=False)
    exp_size = min(table_size, 2 ** inp_norm.width) if in_type.signed else table_size
    return inp_norm, exp_size


def softmax_tables(implementation: str, in_type: FixedType, *, exp_table_type: FixedType,
                   inv_table_type: FixedType, inv_inp_type: FixedType, exp_table_size: int,
                   inv_table_size: int, inp_norm_type: FixedType | None = None,
                   exp_scale: float = 1.0) -> tuple[NDArray[Any], NDArray[Any]]:
    """The exp and inverse tables of hls4ml's softmax, as codes.

    Args:
        implementation: ``"stable"`` or ``"latency"``.
        in_type: the softmax input type (``data_T``); it addresses the 'latency' exp table.
        exp_table_type, inv_table_type, inv_inp_type: the config's ``exp_table_t``,
            ``inv_table_t`` and ``inv_inp_t``.
        exp_table_size, inv_table_size: the config's table sizes (for 'stable' see
            :func:`softmax_stable_defaults`).
        inp_norm_type: 'stable' only: the type of ``x_max - x`` that addresses the exp table;
            default as hls4ml derives it from ``in_type``.
        exp_scale: the config's ``exp_scale`` (1.0 unless the model sets it).

    Returns:
        ``(exp_codes, inv_codes)``: int64 codes of ``exp_table_type`` and ``inv_table_type``.
    """
    if implementation == "stable":
        addr = inp_norm_type or softmax_stable_defaults(in_type, exp_table_size)[0]
    elif implementation == "latency":
        addr = in_type
    else:
        raise PrecisionError(
            f"Softmax implementation {implementation!r} has no kiln tables; use one of "
            f"{', '.join(SOFTMAX_IMPLEMENTATIONS)}"
        )
    exp = softmax_exp_table(exp_table_size, addr, exp_table_type,
                            negative=implementation == "stable", exp_scale=exp_scale)
    inv = softmax_inv_table(inv_table_size, inv_inp_type, inv_table_type)
    return exp, inv
