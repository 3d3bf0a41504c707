"""The Icarus and Verilator fixtures of the kiln.rtl tests (they skip when a tool is missing)."""

from __future__ import annotations

from tests.rtl.conftest import icarus, verilator

__all__ = ["icarus", "verilator"]
