"""Boards as data: LiteX-style pin lists, a device string, a default clock and a programmer.

A board file (``hw/boards/*.py``) writes its pins as LiteX does::

    ("clk25", 0, Pins("G2"), IOStandard("LVCMOS33"))
    ("serial", 0, Subsignal("tx", Pins("L4")), Subsignal("rx", Pins("M1")), IOStandard("LVCMOS33"))

and :class:`Board` turns each tuple into a frozen :class:`Resource` when it is built. A
resource whose name ends in ``_n`` is active low (LiteX's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln.errors import KilnError

__all__ = [
    "Board",
    "BoardError",
    "IOStandard",
    "Misc",
    "Pins",
    "Programmer",
    "Resource",
    "Subsignal",
]


class BoardError(KilnError):
    """A board definition that is malformed, or a board name kiln does not know."""


@dataclass(frozen=True, init=False)
class Pins:
    """Package pins (balls or pin numbers); ``Pins("A1 B2", "C3")`` is three pins."""

    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        split = tuple(part for name in names for part in str(name).split())
        if not split:
            raise BoardError(f"Pins needs at least one pin name, not {names!r}")
        object.__setattr__(self, "names", split)


@dataclass(frozen=True)
class IOStandard:
    """The I/O standard of a pin, e.g. ``IOStandard("LVCMOS33")``."""

    name: str


@dataclass(frozen=True)
class Misc:
    """A vendor pin setting, ``KEY=VALUE`` (``PULLMODE=DOWN``, ``DRIVE=4``) or a flag
    (``PULLUP``)."""

    setting: str

    @property
    def key(self) -> str:
        return self.setting.partition("=")[0]

    @property
    def value(self) -> str:
        return self.setting.partition("=")[2]


@dataclass(frozen=True, init=False)
class Subsignal:
    """One named signal of a multi-signal resource (``serial`` has ``tx`` and ``rx``)."""

    name: str
    items: tuple[Pins | IOStandard | Misc, ...]

    def __init__(self, name: str, *items: Pins | IOStandard | Misc) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "items", tuple(items))



@dataclass(frozen=True)
class Resource:
    """A board resource: a pin group, or a set of subsignals, with its electrical settings.

    Attributes:
        name: LiteX name (``clk25``, ``user_led``, ``serial``).
        number: index among resources of that name.
        pins: the pins (empty when the resource has subsignals).
        iostandard: I/O standard, inherited by the subsignals unless they set their own.
        misc: vendor settings, inherited by the subsignals.
        subsignals: named parts (``tx``, ``rx``), each a Resource with number 0.
    """

    name: str
    number: int
    pins: tuple[str, ...] = ()
    iostandard: str | None = None
    misc: tuple[str, ...] = ()
    subsignals: tuple[Resource, ...] = ()

    @property
    def active_low(self) -> bool:
        return self.name.endswith("_n")

    def subsignal(self, name: str) -> Resource:
        """The subsignal ``name``, with this resource's I/O standard and settings inherited."""
        for sub in self.subsignals:
            if sub.name == name:
                return Resource(sub.name, 0, sub.pins, sub.iostandard or self.iostandard,
                                (*self.misc, *sub.misc))
        raise BoardError(f"Resource {self.name}:{self.number} has no subsignal {name!r}; it has "
                         f"{[s.name for s in self.subsignals]}")

    @classmethod
    def of(cls, spec: Resource | tuple[Any, ...]) -> Resource:
        """A Resource from a LiteX-style tuple ``(name, number, *items)``."""
        if isinstance(spec, Resource):
            return spec
        if (not isinstance(spec, tuple) or len(spec) < 3 or not isinstance(spec[0], str)
                or not isinstance(spec[1], int)):
            raise BoardError(f"A resource is (name, number, Pins(...) | Subsignal(...), ...), "
                             f"not {spec!r}")
        return cls._build(spec[0], spec[1], spec[2:])

    @classmethod
    def _build(cls, name: str, number: int, items: tuple[Any, ...]) -> Resource:
        pins: tuple[str, ...] = ()
        iostandard: str | None = None
        misc: list[str] = []
        subs: list[Resource] = []
        for item in items:
            if isinstance(item, Pins):
                pins = pins + item.names
            elif isinstance(item, IOStandard):
                iostandard = item.name
            elif isinstance(item, Misc):
                misc.append(item.setting)
            elif isinstance(item, Subsignal):
                subs.append(cls._build(item.name, 0, item.items))
            else:
                raise BoardError(f"Resource {name}:{number}: {item!r} is not Pins, IOStandard, "
                                 f"Misc or Subsignal")
        if bool(pins) == bool(subs):
            raise BoardError(f"Resource {name}:{number} needs either Pins or Subsignals "
                             f"(it has {len(pins)} pins and {len(subs)} subsignals)")
        return cls(name, number, pins, iostandard, tuple(misc), tuple(subs))


@dataclass(frozen=True)
class Programmer:
    """How a board is loaded: ``tool`` (``openFPGALoader`` or ``pynq``) and the tool's name
    for the board (``openFPGALoader -b ulx3s``)."""

    tool: str
    board: str = ""


@dataclass(frozen=True)
class Board:
    """An FPGA board, as data.

    Attributes:
        name: what users type (``--board ulx3s-85f``).
        title: a readable name.
        family: the toolchain family (``ecp5``, ``ice40``, ``zynq7``, ``zynqmp``).
        device: the part (``LFE5U-85F-6BG381C``, ``iCE40UP5K-SG48``, ``xc7z020clg400-1``).
        io: the resources, as LiteX tuples or Resources (stored as Resources).
        clock: the resource of the default clock (number 0).
        clock_hz: its frequency.
        programmer: how to load a bitstream.
        uart: the resource with ``tx``/``rx`` subsignals the UART bridge uses (open boards).
        reset: a reset button resource (``_n``: active low), or None.
        leds: status LEDs in order of use, as (name, number).
        vivado_board_part: Vivado's board part (presets for the processing system), or None.
        fabric_clock_mhz: the PL clock the processing system gives kiln_top (Zynq boards).
        url: where the board is documented.
    """

    name: str
    title: str
    family: str
    device: str
    io: tuple[Resource, ...]
    clock: str
    clock_hz: float
    programmer: Programmer
    uart: str | None = None
    reset: str | None = None
    leds: tuple[tuple[str, int], ...] = ()
    vivado_board_part: str | None = None
    fabric_clock_mhz: float = 100.0
    url: str = ""
    _index: dict[tuple[str, int], Resource] = field(default_factory=dict, init=False,
                                                   repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        resources = tuple(Resource.of(spec) for spec in self.io)
        object.__setattr__(self, "io", resources)
        index = {(r.name, r.number): r for r in resources}
        if len(index) != len(resources):
            raise BoardError(f"Board {self.name}: two resources share a name and number")
        object.__setattr__(self, "_index", index)
        if self.clock_hz <= 0:
            raise BoardError(f"Board {self.name}: clock_hz must be positive, not "
                             f"{self.clock_hz!r}")
        needed = [(self.clock, 0), *self.leds]
        needed += [(name, 0) for name in (self.reset, self.uart) if name]
        for name, number in needed:
            self.lookup(name, number)
        if len({name.endswith("_n") for name, _ in self.leds}) > 1:
            raise BoardError(f"Board {self.name}: its status LEDs mix active-high and "
                             f"active-low resources")

    def lookup(self, name: str, number: int = 0) -> Resource:
        """The resource ``name``:``number``.

        Raises:
            BoardError: it is not on this board (the message lists what is).
        """
        try:
            return self._index[(name, number)]
        except KeyError:
            have = sorted({f"{n}:{i}" for n, i in self._index})
            raise BoardError(f"Board {self.name} has no resource {name}:{number}; it has "
                             f"{', '.join(have)}") from None

    @property
    def clock_mhz(self) -> float:
        return self.clock_hz / 1e6
