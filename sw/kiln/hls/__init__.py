"""The HLS path: hls4ml's writer and its C simulation, kiln's HLS reference."""

from __future__ import annotations

from kiln.hls._csim import (
    PROJECT,
    CSim,
    find_library,
    rebuild_library,
    write_and_compile,
)

__all__ = ["PROJECT", "CSim", "find_library", "rebuild_library", "write_and_compile"]
