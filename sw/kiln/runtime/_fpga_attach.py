"""Which board the fpga device talks to, and through what.

A transport is named by a spec: ``pynq``, ``pynq:BOARD``, ``serial:PORT``,
``serial:PORT@BAUD``, ``sim``, ``sim:serial`` or ``sim:pynq``. It comes from
``Runtime.device("fpga").attach(...)`` (``kiln predict --transport``), else from ``$KILN_FPGA``,
else PYNQ is found when the ``pynq`` package is importable (the code runs on a PYNQ board) and
the artifact has a Zynq bitstream. The artifact must hold a bitstream for the kind of board the
spec names (``DIR/bitstream/<board>/``); ``sim`` runs the Verilated design instead.

Each transport class parses, checks and opens its own kind; :data:`TRANSPORTS` registers them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import ClassVar, Protocol

from kiln.errors import DeviceError
from kiln.runtime._fpga import Transport
from kiln.runtime._fpga_boards import TransportSpec, bitstreams
from kiln.runtime._fpga_pynq import PynqTransport
from kiln.runtime._fpga_serial import SerialTransport
from kiln.runtime._fpga_sim import SimulatedTransport

ENV = "KILN_FPGA"
FORMS = "pynq, pynq:BOARD, serial:PORT, serial:PORT@BAUD, sim, sim:serial, sim:pynq"


class SelectableTransport(Protocol):
    """A transport class a spec can name."""

    kind: ClassVar[str]

    @classmethod
    def parse_target(cls, target: str, source: str) -> TransportSpec | None:
        """The spec for ``KIND:target`` (``target`` may be empty); None when malformed."""

    @classmethod
    def check(cls, spec: TransportSpec, artifact: Path) -> None:
        """Raise DeviceError saying what is missing if ``spec`` cannot run here."""

    @classmethod
    def connect(cls, spec: TransportSpec, artifact: Path) -> Transport:
        """Open the link ``spec`` names."""


TRANSPORTS: dict[str, type[SelectableTransport]] = {
    cls.kind: cls for cls in (PynqTransport, SerialTransport, SimulatedTransport)}


def parse_spec(text: str, source: str) -> TransportSpec:
    """The spec ``text`` (from ``source``, for messages).

    Raises:
        DeviceError: ``text`` is none of :data:`FORMS`.
    """
    kind, _, target = text.strip().partition(":")
    spec = TRANSPORTS[kind].parse_target(target, source) if kind in TRANSPORTS else None
    if spec is None:
        raise DeviceError(f"{source}: {text!r} is not an fpga transport; use one of: {FORMS} "
                          "(e.g. serial:/dev/ttyUSB0)")
    return spec


def choose(attached: TransportSpec | None, artifact: Path) -> TransportSpec:
    """The spec to use: the attached one, else ``$KILN_FPGA``, else PYNQ when found.

    Raises:
        DeviceError: none of them; the message says how to attach a board.
    """
    if attached is not None:
        return attached
    env = os.environ.get(ENV, "").strip()
    if env:
        return parse_spec(env, f"${ENV}")
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


def check(spec: TransportSpec, artifact: Path) -> None:
    """Raise DeviceError saying what is missing if ``spec`` cannot run here (opens nothing)."""
    TRANSPORTS[spec.kind].check(spec, artifact)


def open_transport(spec: TransportSpec, artifact: Path) -> Transport:
    """Open the link ``spec`` names (check it first with :func:`check`)."""
    return TRANSPORTS[spec.kind].connect(spec, artifact)
