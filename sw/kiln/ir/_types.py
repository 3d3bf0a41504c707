"""The fixed-point type: one frozen definition shared by every stage."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.errors import PrecisionError

# hls4ml's mode names (hls4ml.model.types.RoundingMode / SaturationMode), same meaning as ap_fixed.
ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 62  # codes are carried in int64; products of two such codes are formed in Python ints

_FIXED_RE = re.compile(
    r"^(?:ap_)?(?P<u>u?)(?P<kind>fixed|int)<\s*(?P<args>[^>]*)>$", re.IGNORECASE
)


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, rounding, overflow>`` (or ``ap_ufixed`` when not signed).

    A value is ``code * 2**-frac`` with ``frac = width - integer``; ``integer`` may be negative
    or larger than ``width``, as in ap_fixed.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise PrecisionError(
                f"Width must be an integer from 1 to {MAX_WIDTH}, not {self.width!r}"
            )
        if not isinstance(self.integer, int):
            raise PrecisionError(f"Integer bits must be an integer, not {self.integer!r}")
        if self.signed and self.width < 2 and self.overflow == "SAT_SYM":
            raise PrecisionError(f"SAT_SYM needs a signed width of at least 2, not {self.width!r}")
        if self.rounding not in ROUNDING_MODES:
            raise PrecisionError(
                f"Rounding mode must be one of {', '.join(ROUNDING_MODES)}, not {self.rounding!r}"
            )
        if self.overflow not in OVERFLOW_MODES:
            raise PrecisionError(
                f"Overflow mode must be one of {', '.join(OVERFLOW_MODES)}, not {self.overflow!r}"
            )

    @property
    def frac(self) -> int:
        """Fractional bits: the code's binary point position."""
        return self.width - self.integer

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    def to_float(self, code: int) -> float:
        return code * self.lsb

    def hls(self) -> str:
        """The C++ type, e.g. ``ap_fixed<16,6,AP_RND_CONV,AP_SAT>``."""
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        modes = ""
        if (self.rounding, self.overflow) != ("TRN", "WRAP"):
            modes = f",AP_{self.rounding},AP_{self.overflow}"
        return f"{kind}<{self.width},{self.integer}{modes}>"

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def with_modes(self, rounding: str, overflow: str) -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding, overflow)

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse hls4ml/ap_fixed spellings: ``fixed<16,6>``, ``ap_ufixed<6,0,AP_RND,AP_SAT>``,
        ``fixed<6,2,RND_CONV,SAT,0>``, ``int<8>``, ``uint<4>``."""
        match = _FIXED_RE.match(text.strip().replace(" ", ""))
        if not match:
            raise PrecisionError(
                f"Cannot read fixed-point type {text!r}: write it as fixed<W,I> or "
                "ufixed<W,I,ROUNDING,OVERFLOW> (ap_fixed spelling and int<W> also accepted)"
            )
        args = [a for a in match["args"].split(",") if a]
        signed = not match["u"]
        try:
            width = int(args[0])
            if match["kind"].lower() == "int":
                return cls(width, width, signed)
            integer = int(args[1])
        except (IndexError, ValueError):
            raise PrecisionError(
                f"Fixed-point type {text!r} needs integer width and integer bits"
            ) from None
        modes = [a.upper().removeprefix("AP_") for a in args[2:]]
        rounding = modes[0] if len(modes) > 0 else "TRN"
        overflow = modes[1] if len(modes) > 1 else "WRAP"
        if len(modes) > 2 and modes[2] not in ("0", ""):
            raise PrecisionError(
                f"Fixed-point type {text!r} uses {modes[2]} saturation bits; kiln supports only 0"
            )
        return cls(width, integer, signed, rounding, overflow)
