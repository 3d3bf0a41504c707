"""The fpga device's driver: input codes to stream beats, through a transport, and back.

One :class:`Driver` runs every board. A :class:`Transport` only moves bytes (a serial port,
PYNQ's AXI DMA, or the Verilated design in :mod:`kiln.runtime._fpga_sim`) and says how many
samples it may have in flight; the driver packs, windows, reads back exactly what it is owed
and unpacks. Beats use the UART bridge's framing (``kiln.artifact.WireFormat``: element ``i``
of W bits at beat bits ``[i*W +: W]``, least significant byte first), padded with zero bytes
to the link's beat size (the DMA's stream width on Zynq boards).

A sample is a frame: ``in_beats`` input beats (io_stream: one per pixel, in order) and
``out_beats`` output beats back (io_parallel: one each way). Every count the driver and the
transports keep (batch, window, timeouts) is in samples, that is in frames.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.artifact import TopSources, WireFormat
from kiln.errors import DeviceError, InputShapeError
from kiln.flows import DmaWidths

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
#: How long a link must stay quiet, after an error, before it counts as drained.
SETTLE_S = 0.1


class TransportTimeout(DeviceError):
    """The board did not send back every result it owes within the timeout."""


@dataclass(frozen=True)
class LinkFormat:
    """How samples travel on one link: the UART framing, each beat padded with zero bytes to
    ``in_bytes`` (host to board) and ``out_bytes`` (board to host); a sample is the
    contract's ``in_beats`` beats in and ``out_beats`` beats out, back to back."""

    wire: WireFormat
    in_bytes: int
    out_bytes: int

    def __post_init__(self) -> None:
        if self.in_bytes < self.wire.in_bytes or self.out_bytes < self.wire.out_bytes:
            raise InputShapeError(
                f"A link beat of {self.in_bytes} in / {self.out_bytes} out bytes cannot hold "
                f"the design's {self.wire.in_bytes} / {self.wire.out_bytes}-byte beats")

    @classmethod
    def uart(cls, design: TopSources) -> LinkFormat:
        """The UART bridge's beats: ``ceil(bits / 8)`` bytes each way."""
        wire = WireFormat.of(design.contract)
        return cls(wire, wire.in_bytes, wire.out_bytes)

    @classmethod
    def dma(cls, design: TopSources) -> LinkFormat:
        """The AXI DMA's beats: one ``kiln_top`` beat per beat of the DMA's (power-of-two)
        stream width, as ``hw/vivado/kiln_axis_dma_wrap.v`` connects them."""
        widths = DmaWidths.of(design)
        return cls(WireFormat.of(design.contract), widths.in_width // 8,
                   widths.out_width // 8)

    @property
    def framed(self) -> bool:
        """Whether a sample is more than one beat either way (an io_stream frame)."""
        return self.wire.contract.in_beats > 1 or self.wire.contract.out_beats > 1

    @property
    def in_sample_bytes(self) -> int:
        """Bytes of one sample's input beats on the link."""
        return self.in_bytes * self.wire.contract.in_beats

    @property
    def out_sample_bytes(self) -> int:
        """Bytes of one sample's output beats on the link."""
        return self.out_bytes * self.wire.contract.out_beats

    def seconds_per_sample(self, baud: int) -> float:
        """Wire time of one sample in and its results out at ``baud`` (10 bits a byte, 8N1),
        both directions overlapping (the link runs full duplex)."""
        return 10 * max(self.in_sample_bytes, self.out_sample_bytes) / baud

    def encode(self, codes: Any) -> bytes:
        """The bytes of the input beats for ``codes`` (shape ``(n, in_codes)``): each sample's
        ``in_beats`` beats in order.

        Raises:
            InputShapeError: not ``in_codes`` codes per sample, or a code out of range.
        """
        c = self.wire.contract
        arr = np.asarray(codes)
        if arr.ndim != 2 or arr.shape[1] != c.in_codes:
            raise InputShapeError(f"Inputs have shape {arr.shape}; this design takes "
                                  f"{c.in_codes} codes per sample ({c.in_beats} beat(s) of "
                                  f"{c.in_elems})")
        packed = self.wire.encode_inputs(arr.reshape(len(arr) * c.in_beats, c.in_elems))
        return _pad_rows(packed, self.wire.in_bytes, self.in_bytes)

    def decode(self, data: bytes, n: int) -> NDArray[Any]:
        """Output codes (int64, ``(n, out_codes)``) from the ``n * out_beats`` output beats of
        ``n`` samples."""
        c = self.wire.contract
        beats = n * c.out_beats
        rows = np.frombuffer(data, dtype=np.uint8).reshape(beats, self.out_bytes)
        codes = self.wire.decode_outputs(rows[:, : self.wire.out_bytes].tobytes(), beats)
        return codes.reshape(n, c.out_codes)

    def decode_inputs(self, data: bytes, beats: int) -> NDArray[Any]:
        """Input codes (``(beats, in_elems)``) from ``beats`` input beats (the board's side,
        for simulated boards)."""
        rows = np.frombuffer(data, dtype=np.uint8).reshape(beats, self.in_bytes)
        return self.wire.decode_inputs(rows[:, : self.wire.in_bytes].tobytes(), beats)

    def encode_outputs(self, codes: Any) -> bytes:
        """The bytes of the output beats for ``codes`` (one row per beat, or per sample: rows
        of ``out_codes``), the board's side."""
        rows = np.asarray(codes).reshape(-1, self.wire.contract.out_elems)
        return _pad_rows(self.wire.encode_outputs(rows), self.wire.out_bytes, self.out_bytes)


def _pad_rows(packed: bytes, width: int, padded: int) -> bytes:
    if width == padded:
        return packed
    rows = np.frombuffer(packed, dtype=np.uint8).reshape(-1, width)
    out = np.zeros((len(rows), padded), dtype=np.uint8)
    out[:, :width] = rows
    return out.tobytes()


class Transport(ABC):
    """A link to a board running ``kiln_top``: it moves bytes and knows its limits.

    Attributes:
        link: the beat format on this link.
        batch: samples (frames) the driver sends in one :meth:`write`.
        max_in_flight: samples sent whose results are not yet all read back, at most.
        seconds_per_sample: wire time of one sample, added to the driver's timeouts.
    """

    link: LinkFormat
    batch: int = 1
    max_in_flight: int = 1
    seconds_per_sample: float = 0.0

    @property
    @abstractmethod
    def name(self) -> str:
        """What and where, for messages (``serial /dev/ttyUSB0 at 115200 baud``)."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send whole samples' input beats (``batch`` samples at most)."""

    @abstractmethod
    def read(self, nbytes: int, timeout_s: float) -> bytes:
        """Up to ``nbytes`` bytes of output beats (whole samples' worth, of the oldest write
        not yet read); fewer only when ``timeout_s`` passed first (or when nothing more can
        ever arrive)."""

    @abstractmethod
    def close(self) -> None:
        """Release the link."""

    def reset(self) -> None:
        """Make the link clean after an error: drop every result still owed, so that the next
        read returns only results of later writes. The driver calls it after any error.

        The default cannot: it raises, and the driver closes the link.

        Raises:
            DeviceError: the link cannot be made clean.
        """
        raise DeviceError(f"{self.name} cannot drop the results it still owes")

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Driver:
    """Runs input codes through a transport: packs them into beats, keeps at most
    ``transport.max_in_flight`` samples in flight in writes of ``transport.batch``, reads
    back exactly the owed results and unpacks them.

    Args:
        transport: the link to the board.
        timeout_s: how long one read may wait for its results (plus the link's wire time).
    """

    def __init__(self, transport: Transport, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise DeviceError(f"The fpga driver's timeout must be positive, not {timeout_s!r}")
        if not 1 <= transport.batch <= transport.max_in_flight:
            raise DeviceError(f"{transport.name}: batch {transport.batch} must be 1.."
                              f"max_in_flight ({transport.max_in_flight})")
        self.transport = transport
        self.timeout_s = timeout_s

    def run(self, codes: Any) -> NDArray[Any]:
        """Output codes (int64, ``(n, out_codes)``) for input ``codes`` (``(n, in_codes)``).

        Raises:
            InputShapeError: codes of the wrong shape; PrecisionError: out of range.
            TransportTimeout: the board sent back less than it owes in time.
        """
        t = self.transport
        inputs = np.asarray(codes)
        n = len(inputs)
        out = np.zeros((n, t.link.wire.contract.out_codes), dtype=np.int64)
        writes: deque[tuple[int, int]] = deque()   # (first sample, count) not yet read back
        sent = done = 0
        try:
            while done < n:
                while sent < n and sent - done < t.max_in_flight:
                    k = min(t.batch, n - sent, t.max_in_flight - (sent - done))
                    data = t.link.encode(inputs[sent:sent + k])
                    sent += k   # counted first: a write that fails part-way leaves bytes too
                    t.write(data)
                    writes.append((sent - k, k))
                first, k = writes.popleft()
                out[first:first + k] = self._read(first, k)
                done += k
        except BaseException:
            if sent:
                self._recover()
            raise
        log.debug("fpga: %d samples through %s", n, t.name)
        return out

    def _recover(self) -> None:
        """After an error the link may still owe results: reset it, so that the next run
        cannot read them as its own; a link that cannot be reset is closed."""
        t = self.transport
        try:
            t.reset()
            log.info("fpga: %s reset after an error", t.name)
        except Exception as exc:
            log.warning("fpga: closing %s, which could not be reset after an error (%s)",
                        t.name, exc)
            t.close()

    def _read(self, first: int, k: int) -> NDArray[Any]:
        t = self.transport
        need = k * t.link.out_sample_bytes
        timeout = self.timeout_s + k * t.seconds_per_sample
        data = t.read(need, timeout)
        if len(data) != need:
            raise TransportTimeout(
                f"{t.name}: waited {timeout:.3g} s for the results of samples {first}.."
                f"{first + k - 1} ({need} bytes) and got {len(data)} bytes. Check that the "
                "board runs this artifact's bitstream (`kiln program`), that the cable and "
                "port are right, or raise the timeout (Runtime.device('fpga').attach(..., "
                "timeout_s=...)).")
        return t.link.decode(data, k)
