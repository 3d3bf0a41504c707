"""A small Verilog-2005 builder: typed signals and expressions, and modules that emit themselves.

Every expression carries its width and signedness, and every operator insists that its
operands agree, so the text the builder writes has no implicit extension or truncation:
Verilog's width and signedness traps cannot appear, and ``verilator -Wall`` has nothing to
say about widths. Extension and truncation are explicit (:meth:`Ref.cast`).

A module records which bits of each signal are read. Bits that nothing reads (the low bits a
truncating cast drops, say) are collected into one ``_unused_ok`` reduction, the idiom
Verilator documents for UNUSEDSIGNAL, instead of lint waivers.

kiln uses this builder rather than Amaranth: kiln.rtl needs only wires, constant
multiplies, adders, comparators and enabled registers, and the builder keeps the emitted
Verilog readable and free of a Yosys dependency. (Not measured against Amaranth.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kiln.errors import KilnError

__all__ = [
    "Expr",
    "Module",
    "Ref",
    "RtlBuilderError",
    "Signal",
    "concat",
    "const",
    "mux",
    "reduce_or",
    "width_for",
]

class RtlBuilderError(KilnError):
    """The builder was asked for Verilog that would not mean what it says (a kiln bug)."""


def width_for(lo: int, hi: int, signed: bool) -> int:
    """The fewest bits holding every integer in ``[lo, hi]`` (signed or unsigned codes)."""
    if lo > hi:
        raise RtlBuilderError(f"Empty range [{lo}, {hi}]")
    if not signed:
        if lo < 0:
            raise RtlBuilderError(f"Unsigned codes cannot hold {lo}")
        return max(1, hi.bit_length())
    below = (-lo - 1).bit_length() if lo < 0 else 0
    above = hi.bit_length() if hi >= 0 else 0
    return max(below, above) + 1


def code_range(width: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest code of a ``width``-bit signed or unsigned signal."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


Read = tuple[str, int, int]  # (signal name, lsb, width)


@dataclass(frozen=True)
class Expr:
    """A Verilog rvalue with a known width and signedness.

    ``value`` is set for constants. ``reads`` lists the signal bits the expression reads.
    """

    text: str
    width: int
    signed: bool
    reads: tuple[Read, ...] = ()
    value: int | None = None

    def _check(self, other: Expr, op: str) -> None:
        if (self.width, self.signed) != (other.width, other.signed):
            raise RtlBuilderError(
                f"Operands of {op!r} differ: {self.text} is {_shape(self)}, "
                f"{other.text} is {_shape(other)}; extend or cast one explicitly"
            )

    def _binary(self, other: Expr, op: str, width: int, signed: bool) -> Expr:
        self._check(other, op)
        return Expr(f"({self.text} {op} {other.text})", width, signed, self.reads + other.reads)

    def __add__(self, other: Expr) -> Expr:
        return self._binary(other, "+", self.width, self.signed)

    def __sub__(self, other: Expr) -> Expr:
        return self._binary(other, "-", self.width, self.signed)

    def __mul__(self, other: Expr) -> Expr:
        return self._binary(other, "*", self.width, self.signed)

    def __and__(self, other: Expr) -> Expr:
        return self._binary(other, "&", self.width, self.signed)

    def __or__(self, other: Expr) -> Expr:
        return self._binary(other, "|", self.width, self.signed)

    def __invert__(self) -> Expr:
        return Expr(f"(~{self.text})", self.width, self.signed, self.reads)

    def __neg__(self) -> Expr:
        return Expr(f"(-{self.text})", self.width, self.signed, self.reads)

    def shl(self, amount: int) -> Expr:
        """``self <<< amount`` at the same width (high bits drop off)."""
        if amount == 0:
            return self
        return Expr(f"({self.text} <<< {amount})", self.width, self.signed, self.reads)

    def gt(self, other: Expr) -> Expr:
        return self._binary(other, ">", 1, False)

    def lt(self, other: Expr) -> Expr:
        return self._binary(other, "<", 1, False)

    def eq(self, other: Expr) -> Expr:
        return self._binary(other, "==", 1, False)

    def logical_not(self) -> Expr:
        return Expr(f"!{self.text}", 1, False, self.reads)

    def as_signed(self) -> Expr:
        return Expr(f"$signed({self.text})", self.width, True, self.reads, self.value)


def _shape(e: Expr) -> str:
    return f"{'signed' if e.signed else 'unsigned'} {e.width}-bit"


def const(value: int, width: int, signed: bool) -> Expr:
    """A sized constant; ``value`` must be a code of the ``width``-bit type."""
    lo, hi = code_range(width, signed)
    if not lo <= value <= hi:
        raise RtlBuilderError(f"Constant {value} does not fit {'signed' if signed else 'unsigned'}"
                              f" {width} bits")
    s = "s" if signed else ""
    if value >= 0:
        text = f"{width}'{s}d{value}"
    elif value > lo:
        text = f"(-{width}'sd{-value})"
    else:
        text = f"{width}'sh{value + (1 << width):x}"
    return Expr(text, width, signed, (), value)


def concat(*parts: Expr | Ref) -> Expr:
    """``{a, b, ...}``: unsigned, the first part in the most significant bits. Parts are
    self-determined, so a :class:`Ref` enters as its raw bits."""
    exprs = [p.raw if isinstance(p, Ref) else p for p in parts]
    reads = tuple(r for e in exprs for r in e.reads)
    return Expr("{" + ", ".join(e.text for e in exprs) + "}", sum(e.width for e in exprs),
                False, reads)


def mux(cond: Expr, if_true: Expr, if_false: Expr) -> Expr:
    """``cond ? if_true : if_false`` with a one-bit condition and agreeing branches."""
    if cond.width != 1:
        raise RtlBuilderError(f"Mux condition {cond.text} is {cond.width} bits, not 1")
    if_true._check(if_false, "?:")
    return Expr(f"({cond.text} ? {if_true.text} : {if_false.text})", if_true.width,
                if_true.signed, cond.reads + if_true.reads + if_false.reads)


def reduce_or(e: Expr) -> Expr:
    """``|e``: one bit, set when any bit of ``e`` is."""
    if e.width == 1:
        return Expr(e.text, 1, False, e.reads)
    return Expr(f"(|{e.text})", 1, False, e.reads)


@dataclass(frozen=True)
class Signal:
    """A declared net: port, wire or reg."""

    name: str
    width: int
    signed: bool
    kind: str  # "input", "output", "wire", "reg"

    def ref(self) -> Ref:
        return Ref(self, 0, self.width, self.signed)

    @property
    def expr(self) -> Expr:
        return self.ref().expr


@dataclass(frozen=True)
class Ref:
    """A contiguous bit range of a signal, read as a signed or unsigned code."""

    signal: Signal
    lsb: int
    width: int
    signed: bool

    def __post_init__(self) -> None:
        if self.width < 1 or self.lsb < 0 or self.lsb + self.width > self.signal.width:
            raise RtlBuilderError(
                f"Bits [{self.lsb + self.width - 1}:{self.lsb}] are outside "
                f"{self.signal.name} ({self.signal.width} bits)"
            )

    @property
    def _select(self) -> str:
        name = self.signal.name
        if self.width == self.signal.width:
            return name
        if self.width == 1:
            return f"{name}[{self.lsb}]"
        return f"{name}[{self.lsb + self.width - 1}:{self.lsb}]"

    @property
    def _read(self) -> tuple[Read, ...]:
        return ((self.signal.name, self.lsb, self.width),)

    @property
    def raw(self) -> Expr:
        """The bare select; its Verilog signedness is the signal's when it is whole, so use it
        only where signedness cannot matter (inside a concatenation)."""
        return Expr(self._select, self.width, False, self._read)

    @property
    def expr(self) -> Expr:
        """The bits as a number of this reference's signedness."""
        text = self._select
        native_signed = self.signal.signed and self.width == self.signal.width
        if self.signed != native_signed:
            text = f"$signed({text})" if self.signed else f"$unsigned({text})"
        return Expr(text, self.width, self.signed, self._read)

    def bits(self, lsb: int, width: int) -> Expr:
        """Raw unsigned bits ``[lsb + width - 1 : lsb]`` of this reference."""
        return self.sub(lsb, width, False).expr

    def bit(self, index: int) -> Expr:
        return self.bits(index, 1)

    @property
    def msb(self) -> Expr:
        return self.bit(self.width - 1)

    def sub(self, lsb: int, width: int, signed: bool) -> Ref:
        """A sub-range, relative to this reference."""
        if lsb < 0 or width < 1 or lsb + width > self.width:
            raise RtlBuilderError(f"Bits [{lsb + width - 1}:{lsb}] are outside a {self.width}-bit "
                                  f"reference to {self.signal.name}")
        return Ref(self.signal, self.lsb + lsb, width, signed)

    @property
    def range(self) -> tuple[int, int]:
        return code_range(self.width, self.signed)

    def cast(self, width: int, signed: bool) -> Expr:
        """Two's complement resize: extend by this reference's sign (or drop high bits), then
        read the ``width`` bits as ``signed`` or unsigned. It keeps the value whenever the
        value fits the result."""
        if width <= self.width:
            return self.sub(0, width, signed).expr
        pad = width - self.width
        if self.signed:
            fill = self.msb
            text = fill.text if pad == 1 else f"{{{pad}{{{fill.text}}}}}"
            ext = Expr(text, pad, False, fill.reads)
        else:
            ext = const(0, pad, False)
        body = concat(ext, self)
        return body.as_signed() if signed else body


@dataclass
class _Register:
    q: Signal
    d: Expr
    enable: Expr | None
    reset: tuple[Expr, Expr] | None


@dataclass
class _Rom:
    q: Signal
    address: Expr
    entries: tuple[Expr, ...]
    enable: Expr | None


@dataclass
class _Ram:
    q: Signal
    depth: int
    write_address: Expr
    write_data: Expr
    write_enable: Expr
    read_address: Expr
    read_enable: Expr


@dataclass
class _Instance:
    module: Module
    name: str
    connections: list[tuple[str, Expr]]


@dataclass(eq=False)
class Module:
    """A Verilog module under construction; :meth:`emit` writes it.

    All registers share the clock given to :meth:`sync`; registers with the same enable and
    reset are written in one ``always`` block.
    """

    name: str
    comment: str = ""
    signals: dict[str, Signal] = field(default_factory=dict)
    _ports: list[Signal] = field(init=False, default_factory=list)
    _values: dict[str, Expr] = field(init=False, default_factory=dict)
    _instance_driven: set[str] = field(init=False, default_factory=set)
    _inline: set[str] = field(init=False, default_factory=set)
    _registered: set[str] = field(init=False, default_factory=set)
    _registers: list[_Register] = field(init=False, default_factory=list)
    _roms: list[_Rom] = field(init=False, default_factory=list)
    _rams: list[_Ram] = field(init=False, default_factory=list)
    _instances: list[_Instance] = field(init=False, default_factory=list)
    _clock: Signal | None = field(init=False, default=None)

    def _declare(self, name: str, width: int, signed: bool, kind: str) -> Signal:
        if name in self.signals:
            raise RtlBuilderError(f"Module {self.name}: signal {name!r} declared twice")
        if width < 1:
            raise RtlBuilderError(f"Module {self.name}: signal {name!r} has width {width}")
        sig = Signal(name, width, signed, kind)
        self.signals[name] = sig
        return sig

    def input(self, name: str, width: int = 1, signed: bool = False) -> Signal:
        sig = self._declare(name, width, signed, "input")
        self._ports.append(sig)
        return sig

    def output(self, name: str, width: int = 1, signed: bool = False) -> Signal:
        sig = self._declare(name, width, signed, "output")
        self._ports.append(sig)
        return sig

    def wire(self, name: str, value: Expr) -> Signal:
        """Declare a wire of ``value``'s shape, driven by ``value``."""
        sig = self._declare(name, value.width, value.signed, "wire")
        self._values[name] = value
        self._inline.add(name)
        return sig

    def net(self, name: str, width: int, signed: bool = False) -> Signal:
        """Declare a wire that an :meth:`assign` or an instance output drives later."""
        return self._declare(name, width, signed, "wire")

    def reg(self, name: str, width: int, signed: bool = False) -> Signal:
        return self._declare(name, width, signed, "reg")

    def assign(self, target: Signal, value: Expr) -> None:
        if target.kind not in ("wire", "output"):
            raise RtlBuilderError(
                f"Module {self.name}: cannot assign to {target.kind} {target.name}"
            )
        _check_fits(target, value, "assign")
        if self._driven(target.name):
            raise RtlBuilderError(f"Module {self.name}: {target.name} driven twice")
        self._values[target.name] = value

    def _driven(self, name: str) -> bool:
        return name in self._values or name in self._instance_driven

    def sync(self, q: Signal, d: Expr, clock: Signal, enable: Expr | None = None,
             reset: tuple[Expr, Expr] | None = None) -> None:
        """``q <= d`` on the rising edge of ``clock`` while ``enable``; ``reset`` is a
        synchronous (condition, value) pair that takes priority."""
        if q.kind != "reg":
            raise RtlBuilderError(f"Module {self.name}: {q.name} is not a reg")
        self._use_clock(clock)
        _check_fits(q, d, "<=")
        if reset is not None:
            _check_fits(q, reset[1], "reset")
        if q.name in self._registered:
            raise RtlBuilderError(f"Module {self.name}: {q.name} registered twice")
        self._registered.add(q.name)
        self._registers.append(_Register(q, d, enable, reset))

    def _use_clock(self, clock: Signal) -> None:
        if self._clock is not None and self._clock != clock:
            raise RtlBuilderError(f"Module {self.name}: one clock per module")
        self._clock = clock

    def rom(self, name: str, address: Expr, table: Sequence[int], width: int, signed: bool,
            clock: Signal, enable: Expr | None = None) -> Signal:
        """Declare a reg ``name`` that reads ``table[address]`` on the rising edge of ``clock``
        while ``enable``: a registered constant table, written as a ``case`` statement so
        synthesis maps it to ROM (logic or block RAM). Addresses past the end read 0."""
        if address.signed or not 1 <= len(table) <= 1 << address.width:
            raise RtlBuilderError(
                f"Module {self.name}: ROM {name} of {len(table)} entries needs an unsigned "
                f"address of enough bits, not {address.text} ({_shape(address)})"
            )
        entries = tuple(const(int(v), width, signed) for v in table)
        q = self.reg(name, width, signed)
        self._use_clock(clock)
        self._registered.add(name)
        self._roms.append(_Rom(q, address, entries, enable))
        return q

    def ram(self, name: str, depth: int, write: tuple[Expr, Expr, Expr],
            read: tuple[Expr, Expr], clock: Signal) -> Signal:
        """Declare a reg ``name`` that reads a memory of ``depth`` words of the write data's
        shape on the rising edge of ``clock``: ``write`` is (address, data, enable), ``read``
        (address, enable). Simple dual-port with a registered read, the form yosys and
        Vivado map to block or LUT RAM; a read of the address written in the same cycle
        returns the old word."""
        (wa, wd, we), (ra, re) = write, read
        for address in (wa, ra):
            if address.signed or depth > 1 << address.width:
                raise RtlBuilderError(
                    f"Module {self.name}: RAM {name} of {depth} words needs an unsigned "
                    f"address of enough bits, not {address.text} ({_shape(address)})"
                )
        q = self.reg(name, wd.width, wd.signed)
        self._use_clock(clock)
        self._registered.add(name)
        self._rams.append(_Ram(q, depth, wa, wd, we, ra, re))
        return q

    def register(self, name: str, d: Expr, clock: Signal, enable: Expr | None = None) -> Signal:
        """Declare a reg of ``d``'s shape and register ``d`` into it."""
        q = self.reg(name, d.width, d.signed)
        self.sync(q, d, clock, enable)
        return q

    def instance(self, module: Module, name: str, **connections: Expr) -> None:
        """Instantiate ``module``; connect every port by name (outputs to wires)."""
        ports = {p.name: p for p in module._ports}
        if set(ports) != set(connections):
            raise RtlBuilderError(
                f"Instance {name} of {module.name}: ports {sorted(ports)}, "
                f"connected {sorted(connections)}"
            )
        for port, value in connections.items():
            if value.width != ports[port].width:
                raise RtlBuilderError(f"Instance {name}: port {port} is {ports[port].width} "
                                      f"bits, connection {value.text} is {value.width}")
            if ports[port].kind == "output":
                target = self.signals.get(value.text)
                if target is None or target.kind != "wire" or self._driven(target.name):
                    raise RtlBuilderError(f"Instance {name}: output {port} needs a free wire")
                self._instance_driven.add(target.name)
        self._instances.append(_Instance(module, name, list(connections.items())))

    def emit(self) -> str:
        """The module's Verilog-2005 text."""
        from kiln.rtl._verilog import emit_module  # the writer imports this module

        return emit_module(self)

    # Accessors for the writer.
    @property
    def ports(self) -> list[Signal]:
        return list(self._ports)

    @property
    def values(self) -> dict[str, Expr]:
        return dict(self._values)

    def is_inline(self, name: str) -> bool:
        """Whether wire ``name`` is written with its value in its declaration."""
        return name in self._inline

    @property
    def registers(self) -> list[_Register]:
        return list(self._registers)

    @property
    def roms(self) -> list[_Rom]:
        return list(self._roms)

    @property
    def rams(self) -> list[_Ram]:
        return list(self._rams)

    @property
    def instances(self) -> list[_Instance]:
        return list(self._instances)

    @property
    def clock(self) -> Signal | None:
        return self._clock

    def undriven(self) -> list[str]:
        """Wires, outputs and regs that nothing drives."""
        return [s.name for s in self.signals.values()
                if (s.kind in ("wire", "output") and not self._driven(s.name))
                or (s.kind == "reg" and s.name not in self._registered)]


def _check_fits(target: Signal, value: Expr, what: str) -> None:
    if (target.width, target.signed) != (value.width, value.signed):
        raise RtlBuilderError(
            f"{what} {target.name} ({'signed' if target.signed else 'unsigned'} "
            f"{target.width}-bit) from {value.text} ({_shape(value)})"
        )
