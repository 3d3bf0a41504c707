"""ap_fixed quantization and overflow on integer codes, on torch tensors (CPU or CUDA).

This is kiln's one definition of the casts that hls4ml's C simulation performs with
ap_fixed; the RTL implements the same rules in gates (kiln.rtl) and tests compare both.
"""

from __future__ import annotations

import torch

from kiln.ir import FixedType


def _round(q: torch.Tensor, rem: torch.Tensor, half: int | float, value: torch.Tensor,
           rounding: str) -> torch.Tensor:
    """Apply a rounding mode to ``q = floor(value)``, where ``rem`` is the dropped fraction
    (``0 <= rem < 2 * half``, with ``half`` its value of one half).

    Only what the mode reads is computed.
    """
    if rounding == "TRN":
        return q
    if rounding == "TRN_ZERO":
        up = (value < 0) & (rem != 0)
    elif rounding == "RND":
        up = rem >= half
    elif rounding == "RND_ZERO":
        up = (rem > half) | ((rem == half) & (value < 0))
    elif rounding == "RND_MIN_INF":
        up = rem > half
    elif rounding == "RND_INF":
        up = (rem > half) | ((rem == half) & (value >= 0))
    elif rounding == "RND_CONV":
        up = (rem > half) | ((rem == half) & (q & 1).bool())
    else:  # FixedType validates modes; this is unreachable
        raise AssertionError(rounding)
    return q + up.to(q.dtype)


def wrap(codes: torch.Tensor, lo: int, width: int) -> torch.Tensor:
    """``codes`` taken modulo ``2**width`` into ``[lo, lo + 2**width)`` with bit operations
    where ``torch.remainder`` would divide (slow in int64 on a GPU): the low ``width`` bits
    for ``lo = 0``, those bits sign-extended (two shifts; torch shifts int64 left as
    unsigned, so bits above 64 drop) for ``lo = -2**(width - 1)``, else the low bits of
    ``codes - lo``."""
    if lo == 0:
        return codes & ((1 << width) - 1)
    if lo == -(1 << (width - 1)):
        return (codes << (64 - width)) >> (64 - width)
    return ((codes - lo) & ((1 << width) - 1)) + lo


def trunc_div(codes: torch.Tensor, divisor: int) -> torch.Tensor:
    """``codes / divisor`` rounded toward zero (C integer division) for a positive ``divisor``:
    a shift for a power of two (negative codes add ``divisor - 1`` first), else a division."""
    if divisor & (divisor - 1):
        return torch.div(codes, divisor, rounding_mode="trunc")
    k = divisor.bit_length() - 1
    return (codes + ((codes >> 63) & (divisor - 1))) >> k


def overflow(codes: torch.Tensor, t: FixedType) -> torch.Tensor:
    """Bring integer codes already at ``t.frac`` into ``t``'s range with its overflow mode."""
    lo, hi = t.min_code, t.max_code
    if t.overflow == "WRAP":
        return wrap(codes, lo, t.width)
    if t.overflow == "SAT":
        return codes.clamp(lo, hi)
    if t.overflow == "SAT_ZERO":
        return torch.where((codes < lo) | (codes > hi), torch.zeros_like(codes), codes)
    if t.overflow == "SAT_SYM":
        return codes.clamp(-hi if t.signed else 0, hi)
    raise AssertionError(t.overflow)


def requantize(codes: torch.Tensor, frac: int, t: FixedType) -> torch.Tensor:
    """Cast int64 codes with ``frac`` fractional bits to type ``t`` (ap_fixed assignment)."""
    shift = frac - t.frac
    if shift > 0:
        shift = min(shift, 62)
        q = codes >> shift
        if t.rounding != "TRN":  # truncation reads nothing else: no kernel for the remainder
            q = _round(q, codes & ((1 << shift) - 1), 1 << (shift - 1), codes, t.rounding)
        codes = q
    elif shift < 0:
        codes = codes << -shift
    return overflow(codes, t)


def from_float(values: torch.Tensor, t: FixedType) -> torch.Tensor:
    """Quantize floats to codes of ``t`` exactly as ap_fixed's double constructor does.

    ap_fixed reads an infinity as 2**1024: it saturates under SAT and SAT_SYM, and becomes 0
    under WRAP and SAT_ZERO. Callers must reject NaN before calling (it has no code).
    """
    v = values.to(torch.float64)
    scaled = torch.ldexp(v, torch.tensor(t.frac, dtype=torch.float64, device=v.device))
    limit = float(2**62)  # beyond every code of a type of at most 62 bits
    clipped = scaled.clamp(-limit, limit)
    q = torch.floor(clipped)
    rem = clipped - q
    codes = _round(q.to(torch.int64), rem, 0.5, clipped, t.rounding)
    if t.overflow == "WRAP":
        # |scaled| >= 2**62 is an integer m * 2**s (|m| < 2**53, s >= 10): keep its low bits.
        huge = scaled.abs() >= limit
        if bool(huge.any()):
            mantissa, exponent = torch.frexp(torch.where(huge & scaled.isfinite(), scaled, 1.0))
            m = torch.ldexp(mantissa, torch.tensor(53.0, dtype=torch.float64,
                                                   device=v.device)).to(torch.int64)
            s = (exponent.to(torch.int64) - 53).clamp(0, t.width)
            low = torch.remainder(m, torch.bitwise_left_shift(torch.ones_like(m), t.width - s))
            wrapped = torch.where(s < t.width, torch.bitwise_left_shift(low, s), 0)
            wrapped = torch.where(scaled.isfinite(), wrapped, 0)  # 2**1024 wraps to 0
            codes = torch.where(huge, wrapped, codes)
    return overflow(codes, t)


def to_float(codes: torch.Tensor, t: FixedType) -> torch.Tensor:
    """The exact value of each code as float64 (exact for widths up to 53 bits)."""
    return torch.ldexp(codes.to(torch.float64), torch.tensor(-t.frac, dtype=torch.float64,
                                                             device=codes.device))
