"""The host runtime: one API over the reference, HLS C-sim, Verilated RTL, kiln.fixed and
FPGA boards (through a transport: PYNQ, serial, or the simulated board)."""

from __future__ import annotations

from kiln.runtime._devices import AUTO_ORDER, DEVICES, Device, RunResult
from kiln.runtime._fpga import Driver, LinkFormat, Transport, TransportTimeout
from kiln.runtime._fpga_attach import TRANSPORTS, parse_spec
from kiln.runtime._fpga_boards import TransportSpec
from kiln.runtime._fpga_pynq import PynqTransport
from kiln.runtime._fpga_serial import SerialTransport
from kiln.runtime._fpga_sim import SimulatedTransport
from kiln.runtime._report import ComparisonReport, DeviceResult
from kiln.runtime._runtime import Runtime, load
from kiln.runtime._shard import Shard, ShardError, ShardFailure

__all__ = [
    "AUTO_ORDER",
    "ComparisonReport",
    "DEVICES",
    "Device",
    "DeviceResult",
    "Driver",
    "LinkFormat",
    "PynqTransport",
    "RunResult",
    "Runtime",
    "SerialTransport",
    "Shard",
    "ShardError",
    "ShardFailure",
    "SimulatedTransport",
    "TRANSPORTS",
    "Transport",
    "TransportSpec",
    "TransportTimeout",
    "load",
    "parse_spec",
]
