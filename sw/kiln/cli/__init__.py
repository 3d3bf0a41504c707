"""Command line interface (`kiln compile|verify|predict|compare|bitstream|program|estimate`)."""

from __future__ import annotations

from kiln.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
