"""Verification levels over an artifact: RTL bulk, Icarus cross-check, cocotb protocol; on
Ray, one artifact in shards or many artifacts one per worker."""

from __future__ import annotations

from kiln.verify._shard import verify_each
from kiln.verify._verify import VerificationReport, format_table, random_inputs, verify

__all__ = ["VerificationReport", "format_table", "random_inputs", "verify", "verify_each"]
