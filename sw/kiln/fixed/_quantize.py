"""ap_fixed quantization and overflow on integer codes, on torch tensors (CPU or CUDA).

This is kiln's one definition of the casts that hls4ml's C simulation performs with
ap_fixed; the RTL implements the same rules in gates (kiln.rtl) and tests compare both.
"""

from __future__ import annotations

import torch

from kiln.fixed._types import FixedType


def _round(q: torch.Tensor, above: torch.Tensor, half: torch.Tensor, exact: torch.Tensor,
           negative: torch.Tensor, rounding: str) -> torch.Tensor:
    """Apply a rounding mode to ``q = floor(v)``.

    ``above``/``half`` say whether the dropped fraction is > or == one half, ``exact`` that it
    is zero; ``negative`` is the sign of the unrounded value.
    """
    if rounding == "TRN":
        up = torch.zeros_like(exact)
    elif rounding == "TRN_ZERO":
        up = negative & ~exact
    elif rounding == "RND":
        up = above | half
    elif rounding == "RND_ZERO":
        up = above | (half & negative)
    elif rounding == "RND_MIN_INF":
        up = above
    elif rounding == "RND_INF":
        up = above | (half & ~negative)
    elif rounding == "RND_CONV":
        up = above | (half & (q & 1).bool())
    else:  # FixedType validates modes; this is unreachable
        raise AssertionError(rounding)
    return q + up.to(q.dtype)


def overflow(codes: torch.Tensor, t: FixedType) -> torch.Tensor:
    """Bring integer codes already at ``t.frac`` into ``t``'s range with its overflow mode."""
    lo, hi = t.min_code, t.max_code
    if t.overflow == "WRAP":
        return torch.remainder(codes - lo, 1 << t.width) + lo
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
        rem = codes - (q << shift)
        half = 1 << (shift - 1)
        codes = _round(q, rem > half, rem == half, rem == 0, codes < 0, t.rounding)
    elif shift < 0:
        codes = codes << -shift
    return overflow(codes, t)


def from_float(values: torch.Tensor, t: FixedType) -> torch.Tensor:
    """Quantize finite floats to codes of ``t`` exactly as ap_fixed's double constructor does.

    Infinities saturate to the type's extreme codes whatever its overflow mode; callers must
    reject NaN before calling (it has no code).
    """
    v = values.to(torch.float64)
    scaled = torch.ldexp(v, torch.tensor(t.frac, dtype=torch.float64, device=v.device))
    limit = float(2**61)
    clipped = scaled.clamp(-limit, limit)
    q = torch.floor(clipped)
    rem = clipped - q
    codes = _round(q.to(torch.int64), rem > 0.5, rem == 0.5, rem == 0, clipped < 0, t.rounding)
    codes = overflow(codes, t)
    codes = torch.where(torch.isposinf(v), torch.full_like(codes, t.max_code), codes)
    return torch.where(torch.isneginf(v), torch.full_like(codes, t.min_code), codes)


def to_float(codes: torch.Tensor, t: FixedType) -> torch.Tensor:
    """The exact value of each code as float64 (exact for widths up to 53 bits)."""
    return torch.ldexp(codes.to(torch.float64), torch.tensor(-t.frac, dtype=torch.float64,
                                                             device=codes.device))
