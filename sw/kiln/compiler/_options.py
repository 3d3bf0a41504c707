"""BuildOptions: what one compile is asked to build, validated once when it is made.

The manifest records them (``kiln.json`` ``options``) and their :meth:`BuildOptions.digest`
decides whether an existing artifact can be reused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Literal, get_args

from kiln.errors import InputShapeError, KilnError, PrecisionError
from kiln.ir import DEFAULT_ADDER_LEVELS, FixedType

IoType = Literal["io_parallel", "io_stream"]
IO_TYPES: tuple[str, ...] = get_args(IoType)
#: One factor for every layer, a factor per layer name (layers not named: 1), or "auto":
#: the factors that fit the part (or board) at the highest throughput.
ReuseFactor = int | Mapping[str, int] | Literal["auto"]
AUTO: Literal["auto"] = "auto"
#: The share of the part's logic (LUTs, registers) ``reuse_factor="auto"`` fills at most:
#: room for placement and routing.
FIT_MARGIN = 0.7
#: The share of the part's DSP and block RAM ``auto`` fills at most: they sit at fixed sites
#: and need no room around them (the jet MLP with 87% of an ECP5-85F's multipliers routed).
HARD_BLOCK_MARGIN = 0.9
#: hls4ml's Vivado-backend defaults, the part and clock every compile targets unless told.
DEFAULT_PART = "xcvu9p-flga2577-2-e"
DEFAULT_CLOCK_PERIOD = 5.0


def _check_factor(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise KilnError(f"{where} must be a positive integer, not {value!r}")
    return int(value)


def _check_reuse(value: Any) -> ReuseFactor:
    """``value`` as an int, "auto", or a read-only mapping sorted by layer name."""
    if value == AUTO:
        return AUTO
    if not isinstance(value, Mapping):
        if isinstance(value, bool) or not isinstance(value, int):
            raise KilnError(
                f"reuse_factor must be a positive integer, 'auto' or a mapping of layer name "
                f"to positive integer, not {value!r}"
            )
        return _check_factor(value, "reuse_factor")
    if not value:
        raise KilnError("reuse_factor={}: name at least one layer, or give one integer for all")
    for name in value:
        if not isinstance(name, str) or not name:
            raise KilnError(f"reuse_factor: layer names must be non-empty strings, not {name!r}")
    return MappingProxyType({name: _check_factor(value[name], f"reuse_factor[{name!r}]")
                             for name in sorted(value)})


def _board_part(board: Any, part: str) -> str:
    from kiln.flows import get_board

    if not isinstance(board, str):
        raise KilnError(f"board must be a board name such as 'ulx3s-85f', not {board!r}")
    device = get_board(board).device
    if part not in (DEFAULT_PART, device):
        raise KilnError(f"board {board!r} has part {device}, but part={part!r} was given; give "
                        "one of them")
    return device


def _check_precision(text: Any, name: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise PrecisionError(
            f"{name} must be a fixed-point type such as 'fixed<16,6>', not {text!r}"
        )
    FixedType.parse(text)  # raises PrecisionError quoting the bad text
    return text


def _check_shape(shape: Any) -> tuple[int, ...] | None:
    """``input_shape`` (batch excluded) as a tuple of positive ints; an int is one dimension."""
    if shape is None:
        return None
    if isinstance(shape, str | bytes) or not isinstance(shape, int | list | tuple):
        raise InputShapeError(
            f"input_shape={shape!r}: give the sizes without the batch as integers, e.g. (64,) "
            "or (1, 8, 8)"
        )
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not dims:
        raise InputShapeError("input_shape is empty; give e.g. (64,)")
    for i, size in enumerate(dims):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputShapeError(
                f"input_shape={dims} has dynamic or invalid dimension {i} ({size!r}); kiln "
                "builds fixed-size hardware, so give every dimension as a positive integer "
                "(batch excluded)"
            )
    return dims


@dataclass(frozen=True)
class BuildOptions:
    """What a compile builds. Every value is checked here, once; the stages trust it.

    Attributes:
        io_type: ``"io_parallel"`` (one beat is one sample) or ``"io_stream"`` (one beat is
            one pixel; convolutional networks).
        reuse_factor: one factor for every layer, a mapping of layer name to factor (layers
            it does not name: 1), or ``"auto"``: per-layer factors chosen so the design fits
            the part (``FIT_MARGIN`` of its logic, ``HARD_BLOCK_MARGIN`` of its DSP and
            block RAM; multipliers in logic where the DSP blocks run out) at the highest
            throughput. A factor R
            folds a Dense or Conv layer in time: a sample (or output pixel) every R cycles
            with about 1/R of the multipliers; it must be one hls4ml accepts for the layer.
        precision: fixed-point type (``"fixed<16,6>"``) for every tensor of a float model, or
            for the float weights of a partly quantized one.
        input_precision: input type when the input carries no quantizer (default: precision,
            else ``fixed<16,6>``).
        part: FPGA part the HLS project targets (and the designs are fitted to).
        board: a board kiln knows (``ulx3s-85f``); its part becomes ``part``.
        clock_period: clock period in ns the HLS project targets.
        input_shape: PyTorch models only: one sample's shape, channels first, batch excluded.
        adder_levels: adder levels between pipeline registers in unfolded Dense and Conv
            layers: more gives fewer registers and cycles of latency and a longer path per
            clock (docs/hardware-cost.md measures the trade).
    """

    io_type: IoType = "io_parallel"
    reuse_factor: ReuseFactor = 1
    precision: str | None = None
    input_precision: str | None = None
    part: str = DEFAULT_PART
    clock_period: float = DEFAULT_CLOCK_PERIOD
    input_shape: tuple[int, ...] | None = None
    board: str | None = None
    adder_levels: int = DEFAULT_ADDER_LEVELS

    def __post_init__(self) -> None:
        if self.io_type not in IO_TYPES:
            raise KilnError(f"io_type must be 'io_parallel' or 'io_stream', not {self.io_type!r}")
        object.__setattr__(self, "reuse_factor", _check_reuse(self.reuse_factor))
        _check_precision(self.precision, "precision")
        _check_precision(self.input_precision, "input_precision")
        if not isinstance(self.part, str) or not self.part.strip():
            raise KilnError(f"part must be an FPGA part name such as {DEFAULT_PART!r}, "
                            f"not {self.part!r}")
        period = self.clock_period
        if (isinstance(period, bool) or not isinstance(period, int | float)
                or not math.isfinite(period) or period <= 0):
            raise KilnError(f"clock_period must be a positive number of ns such as "
                            f"{DEFAULT_CLOCK_PERIOD}, not {period!r}")
        object.__setattr__(self, "clock_period", float(period))
        object.__setattr__(self, "input_shape", _check_shape(self.input_shape))
        if self.board is not None:
            object.__setattr__(self, "part", _board_part(self.board, self.part))
        levels = self.adder_levels
        if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 64:
            raise KilnError(f"adder_levels must be a whole number from 1 to 64 (adder levels "
                            f"per pipeline stage; default {DEFAULT_ADDER_LEVELS}), not {levels!r}")

    def __hash__(self) -> int:
        return hash(self.digest())

    @property
    def default_reuse_factor(self) -> int:
        """The factor of every layer the reuse factor does not name."""
        return self.reuse_factor if isinstance(self.reuse_factor, int) else 1

    @property
    def auto_reuse(self) -> bool:
        """Whether the reuse factors are to be chosen to fit the part."""
        return self.reuse_factor == AUTO

    @property
    def layer_reuse_factors(self) -> Mapping[str, int]:
        """The factors given per layer name (empty when one factor is given for all)."""
        reuse = self.reuse_factor
        return reuse if isinstance(reuse, Mapping) else {}

    def reuse_for(self, layer: str) -> int:
        """The reuse factor of the layer named ``layer``."""
        return self.layer_reuse_factors.get(layer, self.default_reuse_factor)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON values (what the manifest records and the digest hashes)."""
        reuse = self.reuse_factor
        return {
            "io_type": self.io_type,
            "reuse_factor": reuse if isinstance(reuse, int | str) else dict(reuse),
            "precision": self.precision,
            "input_precision": self.input_precision,
            "part": self.part,
            "clock_period": self.clock_period,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "board": self.board,
            "adder_levels": self.adder_levels,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildOptions:
        """Options from :meth:`to_dict`'s form (e.g. a manifest's ``options``), checked."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise KilnError(f"Unknown build option(s) {unknown}; known: {known}")
        return cls(**data)

    def digest(self) -> str:
        """SHA-256 of the options: equal options give equal digests, any change another."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()
