"""The open flow: yosys synthesis, nextpnr place and route, ecppack / icepack.

The board top is ``hw/uart/kiln_uart_top.v``: kiln_top behind the UART bridge, its size
set by ``hierarchy -chparam``. :class:`YosysNextpnr` holds the flow; :class:`Trellis` (ECP5)
and :class:`IceStorm` (iCE40) declare only what differs, as LiteX's ``trellis.py`` does on
top of ``yosys_nextpnr_toolchain.py``.
"""

from __future__ import annotations

import re
import shlex
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from kiln.artifact import DEFAULT_BAUD, UART_SOURCES, UART_TOP, TopSources
from kiln.flows._board import Board, BoardError, Resource
from kiln.flows._plan import BuildPlan, BuildResult, Step
from kiln.flows._report import BitstreamReport, over_capacity, parse_nextpnr_report
from kiln.flows._toolchain import Toolchain

__all__ = ["IceStorm", "PinConstraint", "Trellis", "YosysNextpnr"]

MAX_STATUS_LEDS = 4


@dataclass(frozen=True)
class PinConstraint:
    """A top-level port on a package pin, with the constraint format's options."""

    port: str
    site: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class YosysNextpnr(Toolchain):
    """yosys + nextpnr + a packer. Subclasses set the class variables and the device and
    pin-option translations."""

    baud: int = DEFAULT_BAUD

    synth_cmd: ClassVar[str]          # synth_ecp5, synth_ice40
    synth_opts: ClassVar[str] = ""
    nextpnr: ClassVar[str]            # tool name: nextpnr-ecp5
    constr_fmt: ClassVar[str]         # lpf, pcf
    constr_flag: ClassVar[str]        # --lpf, --pcf
    routed: ClassVar[str]             # nextpnr's output for the packer
    routed_flag: ClassVar[str]        # --textcfg, --asc
    packer: ClassVar[str]             # tool name: ecppack
    hooks = ("script_after_read", "yosys_opts", "script_after_synth", "nextpnr_opts",
             "packer_opts", "add_preferences", "add_constraints")

    @abstractmethod
    def device_args(self) -> tuple[str, ...]:
        """nextpnr's arguments selecting the part (``--85k --package CABGA381 --speed 6``)."""

    @abstractmethod
    def pin_options(self, resource: Resource) -> tuple[str, ...]:
        """The constraint file's options for one pin."""

    @abstractmethod
    def pack_args(self) -> tuple[str, ...]:
        """The packer's arguments (reading ``routed``, writing ``bitstream_name``)."""

    def plan(self, design: TopSources) -> BuildPlan:
        pins = self.pins()
        clock_mhz = f"{self.board.clock_mhz:g}"
        params = self.top_params(design)
        files = self.design_files(design, UART_SOURCES)
        sources = [path for path, _ in files]
        files.append(("synth.ys", self.render(
            "open_synth.ys.j2", top=UART_TOP, sources=sources, params=params,
            synth_cmd=self.synth_cmd, synth_opts=self.synth_opts)))
        constraints = f"top.{self.constr_fmt}"
        files.append((constraints, self.render(
            f"{self.family}.{self.constr_fmt}.j2", top=UART_TOP, pins=pins, clock_port="clk",
            clock_mhz=clock_mhz)))
        nextpnr_args = (*self.device_args(), "--json", "top.json", self.constr_flag, constraints,
                        self.routed_flag, self.routed, "--report", "report.json",
                        "--timing-allow-fail", "--seed", str(self.seed),
                        *shlex.split(self.overrides["nextpnr_opts"]))
        steps = (
            Step("yosys", ("-q", "-l", "synth.log", "-s", "synth.ys"), "synthesis (yosys)",
                 "yosys.out"),
            Step(self.nextpnr, nextpnr_args, f"place and route ({self.nextpnr})",
                 "nextpnr.out", stop_if=over_capacity),
            Step(self.packer, (*shlex.split(self.overrides["packer_opts"]), *self.pack_args()),
                 f"bitstream ({self.packer})", "pack.out"),
        )
        files.append(self.script(self.board.name, steps))
        return BuildPlan(self.board.name, tuple(files), steps,
                         (self.bitstream_name, "report.json", "synth_stat.json"))

    def top_params(self, design: TopSources) -> list[tuple[str, int]]:
        """``kiln_uart_top``'s parameters for this board and design."""
        leds = min(len(self.board.leds), MAX_STATUS_LEDS)
        return [
            ("CLK_HZ", round(self.board.clock_hz)), ("BAUD", self.baud),
            ("IN_BITS", design.contract.in_bits), ("OUT_BITS", design.contract.out_bits),
            ("IN_BEATS", design.contract.in_beats), ("LEDS", leds),
            ("RST_ACTIVE_LOW", int(self.reset().active_low)),
            ("LED_ACTIVE_LOW", int(self.board.leds[0][0].endswith("_n"))),
        ]

    def reset(self) -> Resource:
        if self.board.reset is None or not self.board.leds or self.board.uart is None:
            raise BoardError(f"Board {self.board.name}: the UART board top needs a UART, a "
                             f"reset button and at least one LED in its board file")
        return self.board.lookup(self.board.reset)

    def pins(self) -> list[PinConstraint]:
        """Every port of ``kiln_uart_top`` on its board pin."""
        board = self.board
        uart = board.lookup(board.uart or "serial")
        placed: list[tuple[str, Resource]] = [
            ("clk", board.lookup(board.clock)), ("rst_btn", self.reset()),
            ("uart_rx", uart.subsignal("rx")), ("uart_tx", uart.subsignal("tx")),
        ]
        for i, (name, number) in enumerate(board.leds[:MAX_STATUS_LEDS]):
            placed.append((f"led[{i}]", board.lookup(name, number)))
        out = []
        for port, res in placed:
            if len(res.pins) != 1:
                raise BoardError(f"Board {board.name}: {res.name}:{res.number} has "
                                 f"{len(res.pins)} pins; port {port} needs one")
            out.append(PinConstraint(port, res.pins[0], self.pin_options(res)))
        return out

    def finish(self, design: TopSources, build: BuildResult, plan: BuildPlan) -> BitstreamReport:
        util, clocks = parse_nextpnr_report(build.root / "report.json")
        return BitstreamReport(
            board=self.board.name, device=self.board.device, family=self.family,
            bitstream=build.root / self.bitstream_name, utilisation=util, clocks=clocks,
            cached=build.cached, seconds=build.seconds, tools=build.tools,
            digest=plan.digest())


@dataclass(frozen=True)
class Trellis(YosysNextpnr):
    """ECP5: synth_ecp5, nextpnr-ecp5, ecppack (Project Trellis)."""

    family = "ecp5"
    synth_cmd = "synth_ecp5"
    nextpnr = "nextpnr-ecp5"
    constr_fmt = "lpf"
    constr_flag = "--lpf"
    routed = "top.config"
    routed_flag = "--textcfg"
    packer = "ecppack"
    bitstream_name = "kiln.bit"

    _DEVICE = re.compile(r"^LFE5(U|UM|UM5G)-(\d+)F-(\d)(BG|MG)(\d+)[CI]$")
    _PACKAGES: ClassVar[dict[str, str]] = {"BG": "CABGA", "MG": "CSFBGA"}

    def device_args(self) -> tuple[str, ...]:
        match = self._DEVICE.match(self.board.device)
        if match is None:
            raise BoardError(f"Board {self.board.name}: {self.board.device!r} is not an ECP5 "
                             f"part name like LFE5U-85F-6BG381C")
        kind, size, speed, pkg, pins = match.groups()
        prefix = {"U": "", "UM": "um-", "UM5G": "um5g-"}[kind]
        return (f"--{prefix}{size}k", "--package", f"{self._PACKAGES[pkg]}{pins}",
                "--speed", speed)

    def pin_options(self, resource: Resource) -> tuple[str, ...]:
        iostd = (f"IO_TYPE={resource.iostandard}",) if resource.iostandard else ()
        return (*iostd, *resource.misc)

    def pack_args(self) -> tuple[str, ...]:
        return ("--compress", "--input", self.routed, "--bit", self.bitstream_name)


@dataclass(frozen=True)
class IceStorm(YosysNextpnr):
    """iCE40: synth_ice40 (with the UP5K's DSPs), nextpnr-ice40, icepack (Project IceStorm)."""

    family = "ice40"
    synth_cmd = "synth_ice40"
    synth_opts = "-dsp"
    nextpnr = "nextpnr-ice40"
    constr_fmt = "pcf"
    constr_flag = "--pcf"
    routed = "top.asc"
    routed_flag = "--asc"
    packer = "icepack"
    bitstream_name = "kiln.bin"

    _DEVICE = re.compile(r"^iCE40(LP|HX|UP|U)(\d+K)-(\w+)$", re.IGNORECASE)

    def device_args(self) -> tuple[str, ...]:
        match = self._DEVICE.match(self.board.device)
        if match is None:
            raise BoardError(f"Board {self.board.name}: {self.board.device!r} is not an iCE40 "
                             f"part name like iCE40UP5K-SG48")
        kind, size, package = match.groups()
        return (f"--{kind.lower()}{size.lower()}", "--package", package.lower())

    def pin_options(self, resource: Resource) -> tuple[str, ...]:
        options: list[str] = []
        for misc in resource.misc:
            if misc.upper() == "PULLUP":
                options += ["-pullup", "yes"]
            else:
                raise BoardError(f"Board {self.board.name}: {resource.name}: the PCF flow "
                                 f"knows the pin setting PULLUP, not {misc!r}")
        return tuple(options)

    def pack_args(self) -> tuple[str, ...]:
        return (self.routed, self.bitstream_name)


def bigger_boards(board: Board, candidates: list[Board]) -> list[str]:
    """Boards of the same family with a larger part, smallest first (for FitError advice)."""
    def size(b: Board) -> int:
        m = re.search(r"(\d+)K?F?-", b.device.upper())
        return int(m.group(1)) if m else 0
    mine = size(board)
    same = [b for b in candidates if b.family == board.family and size(b) > mine]
    return [b.name for b in sorted(same, key=size)]
