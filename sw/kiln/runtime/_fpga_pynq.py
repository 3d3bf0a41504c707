"""The PYNQ transport: ``kiln_top`` between the two channels of the AXI DMA that the Vivado
flow's block design holds (``hw/templates/vivado_zynq.tcl.j2``), driven with the ``pynq``
package on the board's own processor.

One write is one DMA transfer of whole samples, one ``kiln_top`` beat per DMA beat; the DMA
sets tlast on the last beat of each transfer. A single-beat (io_parallel) ``kiln_top`` passes
tlast through, so a batch of samples comes back as one transfer of as many results. An
io_stream ``kiln_top`` sets tlast on the last output beat of every frame, and the DMA ends a
receive transfer at tlast: there one write is one frame (its ``in_beats`` beats, tlast on the
last) and its ``out_beats`` results are one receive transfer.
"""

from __future__ import annotations

import importlib.util
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kiln.artifact import TopSources
from kiln.errors import DeviceError
from kiln.runtime._fpga import SETTLE_S, LinkFormat, Transport
from kiln.runtime._fpga_boards import TransportSpec, locate

DMA_NAME = "axi_dma"                   # the DMA cell of the block design
MAX_TRANSFER_BYTES = (1 << 26) - 1     # the DMA's length register (c_sg_length_width 26)
DEFAULT_BATCH = 1 << 16                # samples per transfer


def dma_batch(link: LinkFormat) -> int:
    """Samples per DMA transfer: one io_stream frame (its results end in tlast); else as many
    as the length register allows, at most 65536."""
    if link.framed:
        return 1
    return max(1, min(DEFAULT_BATCH,
                      MAX_TRANSFER_BYTES // max(link.in_sample_bytes, link.out_sample_bytes)))


class PynqTransport(Transport):
    """The AXI DMA of a loaded overlay. Create it on the board with :meth:`load`.

    Args:
        dma: the overlay's DMA driver (``sendchannel`` / ``recvchannel``, each with
            ``transfer(buffer)`` and ``idle``).
        allocate: ``pynq.allocate``: contiguous buffers with ``flush``, ``invalidate`` and
            ``freebuffer``.
        link: the DMA's beat format (:meth:`LinkFormat.dma`).
        label: where, for messages.
    """

    kind: ClassVar[str] = "pynq"

    def __init__(self, dma: Any, allocate: Callable[..., Any], link: LinkFormat,
                 label: str = "pynq") -> None:
        self.link = link
        self.batch = self.max_in_flight = dma_batch(link)
        self.label = label
        self._dma = dma
        self._allocate = allocate
        self._pending: deque[tuple[Any, Any]] = deque()   # (source, destination) buffers
        self._abandoned: list[tuple[Any, Any]] = []        # of transfers that never ended

    @classmethod
    def parse_target(cls, target: str, source: str) -> TransportSpec | None:
        """``pynq`` or ``pynq:BOARD``."""
        return TransportSpec(cls.kind, target, source=source)

    @classmethod
    def check(cls, spec: TransportSpec, artifact: Path) -> None:
        """A Zynq bitstream in the artifact, and the ``pynq`` package (on the board)."""
        locate(spec, artifact)
        if importlib.util.find_spec("pynq") is None:
            raise DeviceError(f"{spec.source} selects pynq, but the `pynq` package is not "
                              "installed: the PYNQ transport runs on the board's processor. "
                              "From a PC, use a serial board or KILN_FPGA=sim.")

    @classmethod
    def connect(cls, spec: TransportSpec, artifact: Path) -> PynqTransport:
        return cls.load(locate(spec, artifact).path, LinkFormat.dma(TopSources.load(artifact)))

    @classmethod
    def load(cls, bitstream: Path, link: LinkFormat) -> PynqTransport:
        """Load the overlay ``bitstream`` (``kiln.bit``, with ``kiln.hwh`` beside it).

        Raises:
            DeviceError: ``pynq`` is not installed (not a PYNQ board), or the overlay has no
                DMA called ``axi_dma``.
        """
        try:
            import pynq
        except ImportError as exc:
            raise DeviceError(
                "The PYNQ transport runs on a PYNQ board's processor and needs the `pynq` "
                "package there (PYNQ images ship it). Elsewhere, use a serial board "
                "(KILN_FPGA=serial:PORT) or device='fpga-sim'.") from exc
        overlay = pynq.Overlay(str(bitstream))
        dma = getattr(overlay, DMA_NAME, None)
        if dma is None:
            raise DeviceError(
                f"The overlay {bitstream} has no {DMA_NAME!r}; it has "
                f"{', '.join(sorted(overlay.ip_dict))}. Rebuild it with `kiln bitstream DIR "
                "--board <zynq board>`.")
        return cls(dma, pynq.allocate, link, label=f"pynq {bitstream}")

    @property
    def name(self) -> str:
        return self.label

    def write(self, data: bytes) -> None:
        n = len(data) // self.link.in_sample_bytes
        source = self._allocate(shape=(len(data),), dtype=np.uint8)
        source[:] = np.frombuffer(data, dtype=np.uint8)
        source.flush()
        destination = self._allocate(shape=(n * self.link.out_sample_bytes,), dtype=np.uint8)
        # arm the receiving channel first, so no result waits for it
        self._dma.recvchannel.transfer(destination)
        self._dma.sendchannel.transfer(source)
        self._pending.append((source, destination))

    def read(self, nbytes: int, timeout_s: float) -> bytes:
        if not self._pending:
            return b""
        deadline = time.monotonic() + timeout_s
        while not self._dma.recvchannel.idle:   # a DMA finishes in microseconds: poll
            if time.monotonic() > deadline:
                return b""
        source, destination = self._pending.popleft()
        destination.invalidate()
        data = destination[:nbytes].tobytes()
        source.freebuffer()
        destination.freebuffer()
        return bytes(data)

    def close(self) -> None:
        while self._pending:
            for buffer in self._pending.popleft():
                buffer.freebuffer()

    def reset(self) -> None:
        """Wait up to :data:`SETTLE_S` for the DMA to finish the transfers still pending, and
        drop them with their buffers.

        Raises:
            DeviceError: the DMA is still busy (its buffers are then kept: it may write them).
        """
        deadline = time.monotonic() + SETTLE_S
        while self._pending and not self._dma.recvchannel.idle:
            if time.monotonic() > deadline:
                self._abandoned += self._pending   # never freed: the DMA may write them yet
                self._pending.clear()
                raise DeviceError(f"{self.label}: the DMA did not finish after an error; load "
                                  "the bitstream again (restart the program) before the next "
                                  "run")
        self.close()
