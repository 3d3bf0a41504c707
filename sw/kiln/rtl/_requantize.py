"""The one requantize generator: a fixed-point code on wires cast to a FixedType in gates.

It builds exactly :func:`kiln.fixed.requantize`: drop (or append) fractional bits with the
type's rounding mode, then bring the code into range with its overflow mode. The known
range of the input codes prunes comparisons that can never fire and keeps widths minimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from kiln.ir import FixedType
from kiln.rtl._builder import Expr, Module, Ref, concat, const, mux, reduce_or, width_for

Bit = Expr | bool


@dataclass(frozen=True)
class Value:
    """A code on the wires: the bits, their binary point, and the codes they can hold."""

    ref: Ref
    frac: int
    lo: int
    hi: int

    @classmethod
    def of(cls, ref: Ref, frac: int, lo: int | None = None, hi: int | None = None) -> Value:
        rlo, rhi = ref.range
        return cls(ref, frac, rlo if lo is None else lo, rhi if hi is None else hi)


def _and(*bits: Bit) -> Bit:
    exprs = [b for b in bits if not isinstance(b, bool)]
    if any(b is False for b in bits):
        return False
    if not exprs:
        return True
    out = exprs[0]
    for e in exprs[1:]:
        out = out & e
    return out


def _or(*bits: Bit) -> Bit:
    exprs = [b for b in bits if not isinstance(b, bool)]
    if any(b is True for b in bits):
        return True
    if not exprs:
        return False
    out = exprs[0]
    for e in exprs[1:]:
        out = out | e
    return out


def _not(bit: Bit) -> Bit:
    return (not bit) if isinstance(bit, bool) else ~bit


def _round_up(rounding: str, msb: Bit, rest: Bit, negative: Bit, q_odd: Bit) -> Bit:
    """Whether to add one to ``floor``: ``msb`` is the first dropped bit, ``rest`` whether any
    lower dropped bit is set (so: above half = msb & rest, exactly half = msb & ~rest)."""
    if rounding == "TRN":
        return False
    if rounding == "TRN_ZERO":
        return _and(negative, _or(msb, rest))
    if rounding == "RND":
        return msb
    if rounding == "RND_ZERO":
        return _and(msb, _or(rest, negative))
    if rounding == "RND_MIN_INF":
        return _and(msb, rest)
    if rounding == "RND_INF":
        return _and(msb, _or(rest, _not(negative)))
    if rounding == "RND_CONV":
        return _and(msb, _or(rest, q_odd))
    raise AssertionError(rounding)  # FixedType validates modes


def _shift_down(m: Module, v: Value, shift: int, rounding: str, name: str) -> Value:
    """Drop ``shift`` fractional bits: ``floor(code / 2**shift)`` plus the rounding bit."""
    ref = v.ref
    if ref.width < shift + 1:  # keep at least one bit above the binary point
        ref = m.wire(f"{name}_e", ref.cast(shift + 1, ref.signed)).ref()
    q = ref.sub(shift, ref.width - shift, ref.signed)
    qlo, qhi = v.lo >> shift, v.hi >> shift
    msb: Bit = ref.bit(shift - 1)
    rest: Bit = reduce_or(ref.bits(0, shift - 1)) if shift >= 2 else False
    negative: Bit = ref.msb if ref.signed and v.lo < 0 else False
    up = _round_up(rounding, msb, rest, negative, ref.bit(shift))
    if up is False:
        return Value(q, v.frac - shift, qlo, qhi)
    width = max(width_for(qlo, qhi + 1, ref.signed), 2 if ref.signed else 1)
    if up is True:  # cannot happen for valid modes, but stay exact
        inc = const(1, width, ref.signed)
    else:
        inc = concat(const(0, width - 1, False), up) if width > 1 else up
        inc = inc.as_signed() if ref.signed else inc
    rounded = m.wire(f"{name}_r", q.cast(width, ref.signed) + inc)
    return Value(rounded.ref(), v.frac - shift, qlo, qhi + 1)


def _shift_up(m: Module, v: Value, shift: int, name: str) -> Value:
    """Append ``shift`` zero fractional bits."""
    bits = concat(v.ref, const(0, shift, False))
    wide = m.wire(f"{name}_s", bits.as_signed() if v.ref.signed else bits)
    return Value(wide.ref(), v.frac + shift, v.lo << shift, v.hi << shift)


def _limits(t: FixedType, lo: int, hi: int) -> tuple[int, int, bool, bool]:
    """``t``'s saturation bounds, and whether codes in ``[lo, hi]`` can exceed them."""
    top, bottom = t.max_code, t.min_code
    if t.overflow == "SAT_SYM" and t.signed:
        bottom = -top
    return top, bottom, hi > top, lo < bottom


def _overflow(v: Value, t: FixedType) -> Expr:
    """Bring ``v`` (already at ``t.frac``) into ``t``'s range with ``t.overflow``."""
    body = v.ref.cast(t.width, t.signed)
    if t.overflow == "WRAP":
        return body
    top, bottom, over, under = _limits(t, v.lo, v.hi)
    if not (over or under):
        return body
    value = v.ref.expr
    high = value.gt(const(top, v.ref.width, v.ref.signed)) if over else None
    low = value.lt(const(bottom, v.ref.width, v.ref.signed)) if under else None
    if t.overflow == "SAT_ZERO":
        cond = high | low if high is not None and low is not None else (high or low)
        assert cond is not None
        return mux(cond, const(0, t.width, t.signed), body)
    out = body
    if low is not None:
        out = mux(low, const(bottom, t.width, t.signed), out)
    if high is not None:
        out = mux(high, const(top, t.width, t.signed), out)
    return out


def is_wiring(frac: int, lo: int, hi: int, signed: bool, t: FixedType) -> bool:
    """Whether :func:`requantize` of codes in ``[lo, hi]`` (``signed`` bits with ``frac``
    fractional bits) to ``t`` is only wiring (selects and extensions), no gates."""
    shift = frac - t.frac
    if shift > 0:
        bit = const(0, 1, False)  # stands for any signal, as in _shift_down
        rest: Bit = bit if shift >= 2 else False
        negative: Bit = bit if signed and lo < 0 else False
        if _round_up(t.rounding, bit, rest, negative, bit) is not False:
            return False
        lo, hi = lo >> shift, hi >> shift
    elif shift < 0:
        lo, hi = lo << -shift, hi << -shift
    if t.overflow == "WRAP":
        return True
    _, _, over, under = _limits(t, lo, hi)
    return not (over or under)


def requantize_const(code: int, frac: int, t: FixedType) -> int:
    """``kiln.fixed.requantize`` of one constant code (biases, constant outputs)."""
    return requantize_consts([code], frac, t)[0]


def requantize_consts(codes: Sequence[int] | NDArray[Any], frac: int, t: FixedType) -> list[int]:
    """``kiln.fixed.requantize`` of constant codes (table entries, biases)."""
    # kiln.fixed runs on torch: load it only when a design is emitted, so that importing
    # kiln.rtl stays free of torch.
    import torch

    from kiln.fixed import requantize

    return [int(c) for c in requantize(torch.tensor(codes, dtype=torch.int64), frac, t).tolist()]


def requantize(m: Module, v: Value, t: FixedType, name: str) -> Expr:
    """Cast ``v`` to ``t`` as ``kiln.fixed.requantize`` does; intermediate wires are named
    ``name_*``. Returns an expression of ``t.width`` bits with ``t``'s signedness."""
    shift = v.frac - t.frac
    if shift > 0:
        v = _shift_down(m, v, shift, t.rounding, name)
    elif shift < 0:
        v = _shift_up(m, v, -shift, name)
    return _overflow(v, t)
