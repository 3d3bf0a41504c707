"""The UART bridge's wire format (hw/uart/kiln_uart_bridge.v; docs/bitstream.md).

One AXI4-Stream beat, as bytes (:func:`kiln.artifact.pack_samples`). The host sends a
sample's ``in_beats`` input beats (an io_stream frame); the board answers with its
``out_beats`` output beats. The host side (the runtime's serial transport), simulated boards
and the cocotb bench of the bridge all use this one definition, so they speak exactly the
same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.artifact._beats import beat_bytes, pack_samples, unpack_samples
from kiln.artifact._top import TopContract
from kiln.errors import InputShapeError

DEFAULT_BAUD = 115200
#: Single-beat samples a host may have sent whose results it has not yet read back
#: completely. The bridge's FIFO holds ``in_beats + MAX_IN_FLIGHT - 1`` beats: two samples,
#: or one io_stream frame (kiln.runtime's ``uart_window``); more can overflow it.
MAX_IN_FLIGHT = 2
#: The board top that puts ``kiln_top`` behind the bridge, and its sources under ``hw/``.
UART_TOP = "kiln_uart_top"
UART_SOURCES = ("uart/kiln_uart_rx.v", "uart/kiln_uart_tx.v", "uart/kiln_uart_bridge.v",
                "uart/kiln_uart_top.v")


@dataclass(frozen=True)
class WireFormat:
    """Both directions of one design's byte format on a link: the beats of ``contract``."""

    contract: TopContract
    baud: int = DEFAULT_BAUD

    @classmethod
    def of(cls, contract: TopContract, baud: int = DEFAULT_BAUD) -> WireFormat:
        """The format of ``contract``'s beats."""
        return cls(contract, baud)

    @property
    def in_bytes(self) -> int:
        return beat_bytes(self.contract.in_elems, self.contract.in_width)

    @property
    def out_bytes(self) -> int:
        return beat_bytes(self.contract.out_elems, self.contract.out_width)

    def encode_inputs(self, codes: Any) -> bytes:
        """What the host sends for ``codes`` (shape ``(n, in_elems)``)."""
        c = self.contract
        arr = np.asarray(codes)
        if arr.shape[-1:] != (c.in_elems,):
            raise InputShapeError(f"Inputs have {arr.shape[-1:]} elements per sample; this "
                                  f"design takes {c.in_elems}")
        return pack_samples(arr, c.in_width, c.in_signed)

    def decode_outputs(self, data: bytes, n: int | None = None) -> NDArray[Any]:
        """Output codes from what the board sent back."""
        c = self.contract
        return unpack_samples(data, n, c.out_elems, c.out_width, c.out_signed)

    def decode_inputs(self, data: bytes, n: int | None = None) -> NDArray[Any]:
        """Input codes from what a host sent (the board's side, for simulated boards)."""
        c = self.contract
        return unpack_samples(data, n, c.in_elems, c.in_width, c.in_signed)

    def encode_outputs(self, codes: Any) -> bytes:
        """What the board sends back for output ``codes`` (for simulated boards)."""
        return pack_samples(codes, self.contract.out_width, self.contract.out_signed)

    def seconds_per_sample(self) -> float:
        """Wire time of one sample in and its result out (10 bits per byte, 8N1), when both
        directions overlap (the link runs full duplex)."""
        return 10 * max(self.in_bytes, self.out_bytes) / self.baud
