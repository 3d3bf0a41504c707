"""The serial transport: an open-toolchain board (ECP5, iCE40) whose bitstream puts
``kiln_top`` behind the UART bridge (``hw/uart/kiln_uart_bridge.v``), through pyserial.

The bridge has no flow control. It queues finished input beats for ``kiln_top`` in a FIFO of
``in_beats + MAX_IN_FLIGHT - 1`` beats (the bitstream's ``IN_BEATS`` parameter) and drops a
beat that finds it full, so the driver sends one sample per write and keeps at most
:func:`uart_window` samples in flight: two single-beat samples, or one io_stream frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from kiln.artifact import DEFAULT_BAUD, MAX_IN_FLIGHT, TopContract, TopSources
from kiln.errors import DeviceError
from kiln.runtime._fpga import (
    DEFAULT_TIMEOUT_S,
    SETTLE_S,
    LinkFormat,
    Transport,
    TransportTimeout,
)
from kiln.runtime._fpga_boards import TransportSpec, locate


def bridge_depth(contract: TopContract) -> int:
    """Input beats the UART bridge holds for ``kiln_top``: its FIFO (``IN_BEATS + 1`` deep,
    ``hw/uart/kiln_uart_bridge.v``) for ``contract``'s frames."""
    return contract.in_beats + MAX_IN_FLIGHT - 1


def uart_window(contract: TopContract) -> int:
    """Samples a host may have sent whose results it has not all read back, so that the
    bridge never drops a beat: ``MAX_IN_FLIGHT`` (2) single-beat samples, one frame.

    Every beat still in the bridge's FIFO belongs to a sample whose results are not all read
    (``kiln_top`` sends a sample's last result after taking its last beat), so a host within
    the window has at most ``window * in_beats`` beats there, which
    :func:`bridge_depth` holds whatever the design's speed; the spare beat of a frame's FIFO
    is slack.
    """
    return bridge_depth(contract) // contract.in_beats


class SerialTransport(Transport):
    """A serial port to the UART bridge.

    Args:
        port: the device (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL.
        link: the bridge's beat format (:meth:`LinkFormat.uart`).
        baud: the bridge's baud rate (the bitstream's; kiln builds 115200).
        write_timeout_s: how long one write may block.

    Raises:
        DeviceError: the port cannot be opened.
    """

    kind: ClassVar[str] = "serial"

    def __init__(self, port: str, link: LinkFormat, baud: int = DEFAULT_BAUD,
                 write_timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import serial

        self.link = link
        self.batch = 1
        self.max_in_flight = uart_window(link.wire.contract)
        self.seconds_per_sample = link.seconds_per_sample(baud)
        self.label = f"serial {port} at {baud} baud"
        try:
            self._port = serial.serial_for_url(port, baudrate=baud, timeout=0,
                                               write_timeout=write_timeout_s)
        except (serial.SerialException, ValueError) as exc:
            raise DeviceError(
                f"Cannot open serial port {port!r} ({exc}). Check the board is plugged in and "
                "that you may use the port (on Linux: the dialout group), then set "
                "KILN_FPGA=serial:PORT with the right port.") from exc
        self._port.reset_input_buffer()   # bytes from an earlier session are not ours

    @classmethod
    def parse_target(cls, target: str, source: str) -> TransportSpec | None:
        """``serial:PORT`` or ``serial:PORT@BAUD``."""
        if not target:
            return None
        port, at, baud = target.rpartition("@")
        if not at:
            return TransportSpec(cls.kind, target, source=source)
        if port and baud.isdigit() and int(baud) > 0:
            return TransportSpec(cls.kind, port, int(baud), source)
        return None

    @classmethod
    def check(cls, spec: TransportSpec, artifact: Path) -> None:
        """An open-board bitstream in the artifact, and the port exists."""
        locate(spec, artifact)
        if "://" not in spec.target and not Path(spec.target).exists():
            raise DeviceError(f"{spec.source}: there is no serial port {spec.target}; is the "
                              "board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)")

    @classmethod
    def connect(cls, spec: TransportSpec, artifact: Path) -> SerialTransport:
        return cls(spec.target, LinkFormat.uart(TopSources.load(artifact)), spec.baud)

    @property
    def name(self) -> str:
        return self.label

    def write(self, data: bytes) -> None:
        import serial

        try:
            self._port.write(data)
        except serial.SerialTimeoutException as exc:
            raise TransportTimeout(f"{self.label}: the port took no more bytes for "
                                   f"{self._port.write_timeout} s; is the board attached?"
                                   ) from exc
        except serial.SerialException as exc:
            raise DeviceError(f"{self.label}: writing failed ({exc}); was the board "
                              "unplugged?") from exc

    def read(self, nbytes: int, timeout_s: float) -> bytes:
        import serial

        self._port.timeout = timeout_s   # pyserial's timeout bounds the whole read
        try:
            return bytes(self._port.read(nbytes))
        except serial.SerialException as exc:
            raise DeviceError(f"{self.label}: reading failed ({exc}); was the board "
                              "unplugged?") from exc

    def close(self) -> None:
        self._port.close()

    def reset(self) -> None:
        """Let the last bytes go out, then drop what comes back until the link has been quiet
        for :data:`SETTLE_S` plus the window's wire time."""
        import serial

        quiet = SETTLE_S + self.max_in_flight * self.seconds_per_sample
        deadline = time.monotonic() + DEFAULT_TIMEOUT_S
        try:
            self._port.flush()
            while self.read(1 << 12, quiet):
                if time.monotonic() > deadline:
                    raise DeviceError(f"{self.label} keeps sending after an error; is this "
                                      "the board and bitstream kiln built?")
            self._port.reset_input_buffer()
        except serial.SerialException as exc:
            raise DeviceError(f"{self.label}: cannot drain the port ({exc})") from exc
