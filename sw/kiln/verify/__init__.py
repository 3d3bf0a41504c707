"""Verification levels over an artifact: RTL bulk, Icarus cross-check, cocotb protocol."""

from __future__ import annotations

from kiln.verify._verify import VerificationReport, format_table, random_inputs, verify

__all__ = ["VerificationReport", "format_table", "random_inputs", "verify"]
