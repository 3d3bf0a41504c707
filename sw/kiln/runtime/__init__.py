"""The host runtime: one API over the reference, HLS C-sim, Verilated RTL and kiln.fixed."""

from __future__ import annotations

from kiln.runtime._devices import AUTO_ORDER, DEVICES, Device, RunResult
from kiln.runtime._report import ComparisonReport, DeviceResult
from kiln.runtime._runtime import Runtime, load

__all__ = ["AUTO_ORDER", "DEVICES", "ComparisonReport", "Device", "DeviceResult", "Runtime",
           "RunResult", "load"]
