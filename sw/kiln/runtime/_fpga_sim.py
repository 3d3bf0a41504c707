"""A board made of the Verilated design: the fpga driver's transport when no board is attached.

The simulated board speaks the link format of a real one (the UART bridge's bytes, or the AXI
DMA's padded beats) and adds the hazards of a real link: bytes reach the board in random
chunks, the design's stream sees random valid/ready gaps (:class:`kiln.sim.StallPattern`),
and the clock runs in random slices between reads. Like the UART bridge, it drops an input
beat that arrives while ``capacity`` beats of samples whose results are not all read back are
already on the board (a frame that lost a beat then lines up with the next, as on the bridge).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from kiln.artifact import TopSources
from kiln.errors import DeviceError, KilnError
from kiln.runtime._fpga import LinkFormat, Transport
from kiln.runtime._fpga_boards import TransportSpec
from kiln.runtime._fpga_pynq import dma_batch
from kiln.runtime._fpga_serial import bridge_depth, uart_window
from kiln.sim import FULL_RATE, Emulator, StallPattern
from kiln.tools import find_verilator

log = logging.getLogger(__name__)

#: The simulated board's link hazards when a spec asks for ``sim``.
SIM_STALL = StallPattern(in_gap=0.25, out_gap=0.25, seed=1)
#: Clock slices without a result after which a draining board counts as stuck.
QUIET_SLICES = 64


class SimulatedTransport(Transport):
    """A transport to ``emulator``'s design behind a simulated link.

    Use :meth:`serial` or :meth:`pynq` to mimic those boards' links.

    Args:
        emulator: the built design.
        link: the beat format on the link.
        batch: samples per write.
        max_in_flight: samples the driver may have in flight.
        capacity: input beats the board holds for samples in flight before it drops one
            (None: never drops).
        stall: valid/ready gaps on the design's streams (its seed also seeds the link).
        label: what it mimics, for messages.
    """

    kind: ClassVar[str] = "sim"

    def __init__(self, emulator: Emulator, link: LinkFormat, *, batch: int = 1,
                 max_in_flight: int = 1, capacity: int | None = None,
                 stall: StallPattern = FULL_RATE, label: str = "simulated board") -> None:
        self.link = link
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.capacity = capacity
        self.label = label
        self.dropped = 0
        self._stream = emulator.open(stall)
        self._rng = np.random.default_rng(stall.seed)
        g = emulator.contract
        # the longest clock run between checks; below the emulator's idle limit, so that a
        # design waiting for beats that never come (dropped) is quiet, not an error
        self._slice_cycles = min(4 * (g.latency + g.ii) + 8, stall.idle_limit(g.latency) - 1)
        self._to_board = bytearray()    # sent by the host, not yet at the board
        self._at_board = bytearray()    # arrived, not yet a whole beat
        self._queue = np.zeros((0, g.in_elems), dtype=np.int64)  # beats waiting for s_axis
        self._owed = 0                  # output beats owed for the frames begun
        self._from_board = bytearray()  # results on their way to the host
        self._delivered = 0             # input beats the board took in
        self._read_bytes = 0            # result bytes the host has read

    @classmethod
    def parse_target(cls, target: str, source: str) -> TransportSpec | None:
        """``sim``, ``sim:serial`` or ``sim:pynq``: the link the board mimics."""
        if target not in ("", "serial", "pynq"):
            return None
        return TransportSpec(cls.kind, target or "serial", source=source)

    @classmethod
    def check(cls, spec: TransportSpec, artifact: Path) -> None:
        """The artifact's RTL, and Verilator to build it."""
        if not (artifact / "rtl" / "rtl.json").is_file():
            raise DeviceError(f"{spec.source} selects the simulated board, but {artifact} has "
                              "no rtl/; re-run `kiln compile`")
        try:
            find_verilator()
        except KilnError as exc:
            raise DeviceError(f"{spec.source} selects the simulated board: {exc}") from exc

    @classmethod
    def connect(cls, spec: TransportSpec, artifact: Path) -> SimulatedTransport:
        emulator = Emulator.build(artifact / "rtl", artifact / "sim")
        mimic = cls.pynq if spec.dma else cls.serial
        return mimic(emulator, TopSources.load(artifact), SIM_STALL)

    @classmethod
    def serial(cls, emulator: Emulator, design: TopSources, stall: StallPattern = FULL_RATE
               ) -> SimulatedTransport:
        """An open-toolchain board behind the UART bridge (one sample per write, the bridge's
        window in flight, and a beat beyond its FIFO is dropped)."""
        g = design.contract
        return cls(emulator, LinkFormat.uart(design), batch=1, max_in_flight=uart_window(g),
                   capacity=bridge_depth(g), stall=stall, label="simulated serial board")

    @classmethod
    def pynq(cls, emulator: Emulator, design: TopSources, stall: StallPattern = FULL_RATE
             ) -> SimulatedTransport:
        """A Zynq board behind an AXI DMA (padded beats, one transfer per batch)."""
        link = LinkFormat.dma(design)
        batch = dma_batch(link)
        return cls(emulator, link, batch=batch, max_in_flight=batch, stall=stall,
                   label="simulated PYNQ board")

    @property
    def name(self) -> str:
        return self.label

    @property
    def cycles(self) -> int:
        """Clock cycles the design has run."""
        return self._stream.cycles

    def write(self, data: bytes) -> None:
        self._to_board += data

    def read(self, nbytes: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while len(self._from_board) < nbytes and time.monotonic() < deadline:
            if not self._advance():
                break   # the board owes nothing more: no more bytes can arrive
        data = bytes(self._from_board[:nbytes])
        del self._from_board[:nbytes]
        self._read_bytes += len(data)
        return data

    def close(self) -> None:
        self._stream.close()

    def reset(self) -> None:
        """Run the board until it has sent every result it owes, and drop them, as a real
        link is drained (samples the board dropped are owed by nobody). A frame that lost
        beats never ends: once the board has been quiet for :data:`QUIET_SLICES` clock
        slices it is dropped with the design's state, as the board's reset button does."""
        quiet = 0
        while quiet < QUIET_SLICES and self._advance():
            quiet = 0 if self._from_board else quiet + 1
            self._read_bytes += len(self._from_board)   # the host reads and drops them
            self._from_board.clear()
        self._read_bytes += len(self._from_board)
        self._from_board.clear()
        if self._owed:
            log.warning("%s: a frame that lost beats is dropped with the design's state",
                        self.label)
            self._stream.reset()
            self._queue = self._queue[:0]
            self._at_board.clear()
            self._owed = self._delivered = self._read_bytes = 0

    def _advance(self) -> bool:
        """Move a random chunk of bytes to the board and run the clock for a random slice;
        False when nothing is left in flight."""
        if self._to_board:
            chunk = int(self._rng.integers(1, len(self._to_board) + 1))
            self._receive(chunk)
        if not (len(self._queue) or self._owed):
            return bool(self._to_board)
        cycles = int(self._rng.integers(1, self._slice_cycles + 1))
        step = self._stream.step(self._queue, self._owed, cycles)
        self._queue = self._queue[step.consumed:]
        self._owed -= len(step.codes)
        if len(step.codes):
            self._from_board += self.link.encode_outputs(step.codes)
        return True

    def _receive(self, nbytes: int) -> None:
        """The board's receiver: ``nbytes`` more arrive; each whole beat goes to the design,
        and the first beat of each frame makes it owe that frame's ``out_beats`` results
        (a design may send them before the frame's last beat)."""
        self._at_board += self._to_board[:nbytes]
        del self._to_board[:nbytes]
        size = self.link.in_bytes
        whole = len(self._at_board) // size
        if not whole:
            return
        rows = self.link.decode_inputs(bytes(self._at_board[: whole * size]), whole)
        del self._at_board[: whole * size]
        g = self.link.wire.contract
        keep = np.ones(whole, dtype=bool)
        for i in range(whole):
            read_samples = self._read_bytes // self.link.out_sample_bytes
            in_flight = self._delivered - read_samples * g.in_beats
            if self.capacity is not None and in_flight >= self.capacity:
                keep[i] = False
                self.dropped += 1
                log.warning("%s: an input beat arrived with %d beats in flight; dropped, as "
                            "the UART bridge drops it", self.label, in_flight)
                continue
            if self._delivered % g.in_beats == 0:
                self._owed += g.out_beats
            self._delivered += 1
        self._queue = np.concatenate([self._queue, rows[keep]])
