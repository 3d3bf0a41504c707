"""The host runtime: one API over the reference, HLS C-sim, Verilated RTL, kiln.fixed and
FPGA boards (through a transport: PYNQ, serial, or the simulated board)."""

from __future__ import annotations

from kiln.runtime._devices import AUTO_ORDER, DEVICES, Device, RunResult
from kiln.runtime._fpga import Driver, LinkFormat, Transport, TransportTimeout
from kiln.runtime._fpga_attach import TransportSpec
from kiln.runtime._fpga_pynq import PynqTransport
from kiln.runtime._fpga_serial import SerialTransport
from kiln.runtime._fpga_sim import SimulatedTransport
from kiln.runtime._report import ComparisonReport, DeviceResult
from kiln.runtime._runtime import Runtime, load

__all__ = ["AUTO_ORDER", "DEVICES", "ComparisonReport", "Device", "DeviceResult", "Driver",
           "LinkFormat", "PynqTransport", "Runtime", "RunResult", "SerialTransport",
           "SimulatedTransport", "Transport", "TransportSpec", "TransportTimeout", "load"]
