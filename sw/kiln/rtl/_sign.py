"""hls4ml's binary and ternary tanh after a folded batch normalization (kiln IR
:class:`SignThreshold`, hls4ml's ``normalize_ternary_tanh``) in gates, following kiln.fixed's
``sign_threshold_step``: ``y = (x > upper_i) - (x <= lower_i)``.

An element is two comparisons of its input code with constants and a 2-bit result, +1, 0 or
-1 (``2'b01``, ``2'b00``, ``2'b11``), registered: latency 1. A comparison whose answer is the
same for every code of the input type (a threshold at or beyond its ends) is a constant, and
an element whose both comparisons are is a constant output with no register.
"""

from __future__ import annotations

from kiln.errors import UnsupportedLayerError
from kiln.ir import FixedType, SignThreshold, spatial
from kiln.rtl._builder import Expr, concat, const
from kiln.rtl._layers import LayerRtl, _drive_outputs, _element, _Ports, _skeleton


def comparisons(upper: int, lower: int, in_type: FixedType) -> tuple[bool | None, bool | None]:
    """``(x > upper, x <= lower)`` over every code ``x`` of ``in_type``: True or False where
    it is the same for all of them, None where it depends on ``x`` (a comparator)."""
    lo, hi = in_type.min_code, in_type.max_code
    above = True if upper < lo else False if upper >= hi else None
    below = True if lower >= hi else False if lower < lo else None
    return above, below


def comparators(upper: int, lower: int, in_type: FixedType) -> int:
    """How many comparators an element with these thresholds builds: its comparisons that
    are not constant, and one for a binary element (lower == upper: ``x <= lower`` alone
    gives both bits)."""
    left = sum(answer is None for answer in comparisons(upper, lower, in_type))
    return min(left, 1) if upper == lower else left


def _known(answer: bool) -> Expr:
    return const(int(answer), 1, False)


def _sign_element(p: _Ports, node: SignThreshold, in_type: FixedType, i: int) -> Expr:
    """Element ``i``'s unregistered 2-bit result, or its constant value."""
    upper, lower = node.thresholds_at(i)
    above, below = comparisons(upper, lower, in_type)
    if above is not None and below is not None:
        return const(int(above) - int(below), 2, True)
    x = _element(p.x, i, in_type).expr
    t = in_type
    # a comparison left to the hardware has its threshold inside the type (lower + 1 too)
    gt_upper = _known(above) if above is not None else x.gt(const(upper, t.width, t.signed))
    le_lower = _known(below) if below is not None else x.lt(const(lower + 1, t.width, t.signed))
    # lower <= upper, so at most one of the two is set: {below, above | below} is the code;
    # a binary element (lower == upper) always sets one of them
    if upper == lower:
        low = _known(True)
    else:
        low = le_lower if above is False else gt_upper if below is False else gt_upper | le_lower
    return concat(le_lower, low)


def _pixel_thresholds(node: SignThreshold) -> None:
    """Raise unless every element's thresholds are those of element ``i % node.size``: in
    io_stream ``node`` is one pixel, and per-element thresholds of the whole image must
    repeat from pixel to pixel."""
    for codes in (node.upper, node.lower):
        if len(codes) in (1, spatial(node.shape)[2], node.size):
            continue
        if len(codes) % node.size == 0 and (codes.reshape(-1, node.size) == codes[:node.size]
                                            ).all():
            continue
        raise UnsupportedLayerError(
            f"kiln.rtl cannot build layer {node.name!r} ({node.kind}) per pixel: its "
            f"{len(codes)} thresholds differ from pixel to pixel, and io_stream builds one "
            "pixel's channels. Fix: compile with io_type='io_parallel', or give every pixel "
            "the same thresholds (one pair per channel).")


def emit_sign_threshold(node: SignThreshold, in_type: FixedType, name: str) -> LayerRtl:
    """``y = (x > upper_i) - (x <= lower_i)`` per element, a 2-bit code, registered:
    latency 1.

    Raises:
        UnsupportedLayerError: ``node`` is one pixel (io_stream) and its per-element
            thresholds differ from pixel to pixel.
    """
    _pixel_thresholds(node)
    m, p = _skeleton(name, node, in_type, node.size)
    outputs = []
    for i in range(node.size):
        y = _sign_element(p, node, in_type, i)
        outputs.append(y if y.value is not None else m.register(f"y_{i}", y, p.clk, p.ce).expr)
    _drive_outputs(m, p.y, outputs)
    return LayerRtl(m, 1)
