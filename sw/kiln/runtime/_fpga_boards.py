"""Where the fpga device's board is: a transport spec, and the artifact's bitstreams.

A spec is ``KIND`` or ``KIND:TARGET`` (``pynq:BOARD``, ``serial:PORT@BAUD``, ``sim:pynq``);
each transport class parses its own kind (kiln.runtime._fpga_attach keeps the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiln.artifact import DEFAULT_BAUD
from kiln.errors import DeviceError
from kiln.flows import TOOLCHAINS, Board, Vivado, boards

HWH = "kiln.hwh"


@dataclass(frozen=True)
class TransportSpec:
    """A parsed transport spec.

    Attributes:
        kind: the transport's kind (``pynq``, ``serial`` or ``sim``).
        target: the board (pynq, may be empty), the port (serial), or the link the
            simulated board mimics (sim: ``serial`` or ``pynq``).
        baud: the serial baud rate.
        source: where the spec came from, for messages.
    """

    kind: str
    target: str = ""
    baud: int = DEFAULT_BAUD
    source: str = "attach()"

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
