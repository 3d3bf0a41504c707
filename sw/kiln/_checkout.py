"""Folders of the kiln checkout that ship beside the Python package: ``hw/`` (hand-written
Verilog, board files, flow templates) and ``sim/`` (the emulator's C++ harness, the cocotb
benches). Each can be pointed elsewhere with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

HW_DIR_ENV = "KILN_HW_DIR"
SIM_DIR_ENV = "KILN_SIM_DIR"


def _checkout_dir(name: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[2] / name


def hw_dir() -> Path:
    """The repository's ``hw/`` folder: ``$KILN_HW_DIR``, else ``hw/`` beside ``sw/``."""
    return _checkout_dir("hw", HW_DIR_ENV)


def sim_source_dir() -> Path:
    """The repository's ``sim/`` folder: ``$KILN_SIM_DIR``, else ``sim/`` beside ``sw/``."""
    return _checkout_dir("sim", SIM_DIR_ENV)
