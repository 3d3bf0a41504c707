"""Which board the fpga device talks to, and through what.

A transport is named by a spec: ``pynq``, ``pynq:BOARD``, ``serial:PORT``,
``serial:PORT@BAUD``, ``sim``, ``sim:serial`` or ``sim:pynq``. It comes from
``Runtime.device("fpga").attach(...)`` (``kiln predict --transport``), else from ``$KILN_FPGA``,
else PYNQ is found when the ``pynq`` package is importable (the code runs on a PYNQ board) and
the artifact has a Zynq bitstream. The artifact must hold a bitstream for the kind of board the
spec names (``DIR/bitstream/<board>/``); ``sim`` runs the Verilated design instead.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from kiln.errors import DeviceError, KilnError
from kiln.flows import DEFAULT_BAUD, TOOLCHAINS, Board, KilnTop, Vivado, boards
from kiln.runtime._fpga import LinkFormat, Transport
from kiln.sim import StallPattern

ENV = "KILN_FPGA"
FORMS = "pynq, pynq:BOARD, serial:PORT, serial:PORT@BAUD, sim, sim:serial, sim:pynq"
HWH = "kiln.hwh"
#: The simulated board's link hazards when a spec asks for ``sim``.
SIM_STALL = StallPattern(in_gap=0.25, out_gap=0.25, seed=1)


@dataclass(frozen=True)
class TransportSpec:
    """A parsed transport spec.

    Attributes:
        kind: ``pynq``, ``serial`` or ``sim``.
        target: the board (pynq, may be empty), the port (serial), or the link the
            simulated board mimics (sim: ``serial`` or ``pynq``).
        baud: the serial baud rate.
        source: where the spec came from, for messages.
    """

    kind: str
    target: str = ""
    baud: int = DEFAULT_BAUD
    source: str = "attach()"

    @classmethod
    def parse(cls, text: str, source: str) -> TransportSpec:
        """Raises DeviceError for a spec that is none of :data:`FORMS`."""
        kind, _, rest = text.strip().partition(":")
        if kind == "pynq":
            return cls("pynq", rest, source=source)
        if kind == "sim" and rest in ("", "serial", "pynq"):
            return cls("sim", rest or "serial", source=source)
        if kind == "serial" and rest:
            port, at, baud = rest.rpartition("@")
            if not at:
                return cls("serial", rest, source=source)
            if port and baud.isdigit() and int(baud) > 0:
                return cls("serial", port, int(baud), source)
        raise DeviceError(f"{source}: {text!r} is not an fpga transport; use one of: {FORMS} "
                          "(e.g. serial:/dev/ttyUSB0)")

    @property
    def dma(self) -> bool:
        """Whether the board behind it is a Zynq board with the AXI DMA design."""
        return self.kind == "pynq" or self.target == "pynq"


@dataclass(frozen=True)
class BoardBitstream:
    """A bitstream built for ``board`` in the artifact (``kiln bitstream``)."""

    board: Board
    path: Path

    @property
    def dma(self) -> bool:
        return issubclass(TOOLCHAINS[self.board.family], Vivado)


def bitstreams(artifact: Path) -> list[BoardBitstream]:
    """Every complete bitstream under ``artifact/bitstream/`` (Zynq ones with their .hwh)."""
    root = artifact / "bitstream"
    known = boards()
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        board = known.get(folder.name)
        if board is None or board.family not in TOOLCHAINS:
            continue
        found_one = BoardBitstream(board, folder / TOOLCHAINS[board.family].bitstream_name)
        if found_one.path.is_file() and (not found_one.dma or (folder / HWH).is_file()):
            found.append(found_one)
    return found


def choose(attached: TransportSpec | None, artifact: Path) -> TransportSpec:
    """The spec to use: the attached one, else ``$KILN_FPGA``, else PYNQ when found.

    Raises:
        DeviceError: none of them; the message says how to attach a board.
    """
    if attached is not None:
        return attached
    env = os.environ.get(ENV, "").strip()
    if env:
        return TransportSpec.parse(env, f"${ENV}")
    if importlib.util.find_spec("pynq") is not None and any(b.dma for b in bitstreams(artifact)):
        return TransportSpec("pynq", source="found: the pynq package and a Zynq bitstream")
    raise DeviceError(
        "device='fpga' needs a board running this artifact's bitstream and a transport to "
        "it; none is attached. On a PYNQ board: `kiln bitstream DIR --board pynq-z2` (Vivado), "
        "then run kiln on the board (found by itself, or KILN_FPGA=pynq). On an open board: "
        "`kiln bitstream DIR --board ulx3s-85f`, `kiln program DIR --board ulx3s-85f`, then "
        "KILN_FPGA=serial:/dev/ttyUSB0 (or `kiln predict --transport serial:/dev/ttyUSB0`, "
        "or Runtime.device('fpga').attach('serial:/dev/ttyUSB0')). Without a board: "
        "KILN_FPGA=sim runs this driver against the Verilated design, and device='fpga-sim' "
        "runs the RTL directly.")


def locate(spec: TransportSpec, artifact: Path) -> BoardBitstream:
    """The artifact's bitstream for the board ``spec`` talks to.

    Raises:
        DeviceError: there is none (or, for ``pynq`` with several Zynq boards, no choice).
    """
    kind = "Zynq (AXI DMA)" if spec.dma else "open-board (UART bridge)"
    found = [b for b in bitstreams(artifact) if b.dma == spec.dma]
    if spec.kind == "pynq" and spec.target:
        found = [b for b in found if b.board.name == spec.target]
    if not found:
        named = spec.target if spec.kind == "pynq" else ""
        example = named or ("pynq-z2" if spec.dma else "ulx3s-85f")
        then = "" if spec.dma else f" and `kiln program {artifact} --board {example}`"
        raise DeviceError(
            f"{spec.source} selects {spec.kind}, but {artifact / 'bitstream'} holds no "
            f"{kind} bitstream{' for ' + named if named else ''}. Build it with `kiln "
            f"bitstream {artifact} --board {example}`{then}; or use KILN_FPGA=sim to run the "
            "driver against the Verilated design.")
    if spec.kind == "pynq" and len(found) > 1:
        names = ", ".join(b.board.name for b in found)
        raise DeviceError(f"{spec.source}: the artifact has bitstreams for {names}; say which "
                          f"board this is with pynq:BOARD")
    return found[0]


def check(spec: TransportSpec, artifact: Path) -> None:
    """Raise DeviceError saying what is missing if ``spec`` cannot run here (opens nothing)."""
    if spec.kind == "sim":
        from kiln.sim import find_verilator

        if not (artifact / "rtl" / "rtl.json").is_file():
            raise DeviceError(f"{spec.source} selects the simulated board, but {artifact} has "
                              "no rtl/; re-run `kiln compile`")
        try:
            find_verilator()
        except KilnError as exc:
            raise DeviceError(f"{spec.source} selects the simulated board: {exc}") from exc
        return
    locate(spec, artifact)
    if spec.kind == "pynq" and importlib.util.find_spec("pynq") is None:
        raise DeviceError(f"{spec.source} selects pynq, but the `pynq` package is not "
                          "installed: the PYNQ transport runs on the board's processor. "
                          "From a PC, use a serial board or KILN_FPGA=sim.")
    if spec.kind == "serial" and "://" not in spec.target and not Path(spec.target).exists():
        raise DeviceError(f"{spec.source}: there is no serial port {spec.target}; is the "
                          "board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)")


def open_transport(spec: TransportSpec, artifact: Path,
                   stall: StallPattern = SIM_STALL) -> Transport:
    """Open the link ``spec`` names (check it first with :func:`check`)."""
    design = KilnTop.load(artifact)
    if spec.kind == "pynq":
        from kiln.runtime._fpga_pynq import PynqTransport

        return PynqTransport.load(locate(spec, artifact).path, LinkFormat.dma(design))
    if spec.kind == "serial":
        from kiln.runtime._fpga_serial import SerialTransport

        return SerialTransport(spec.target, LinkFormat.uart(design), spec.baud)
    from kiln.runtime._fpga_sim import SimulatedTransport
    from kiln.sim import Emulator

    emulator = Emulator.build(artifact / "rtl", artifact / "sim")
    mimic = SimulatedTransport.pynq if spec.dma else SimulatedTransport.serial
    return mimic(emulator, design, stall)
