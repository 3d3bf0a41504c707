"""Session fixtures for the kiln.sim tests (helpers live in sim_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import make_rtl

from kiln.errors import ToolMissingError


@pytest.fixture(scope="session")
def verilator_tool():  # type: ignore[no-untyped-def]
    from kiln.tools import find_verilator

    try:
        return find_verilator()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def rtl_dirs(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("rtl")
    return {v: make_rtl(root, v) for v in ("wide_signed", "narrow_unsigned", "wide_drop")}


@pytest.fixture(scope="session")
def emu_cache(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("emu_cache")


@pytest.fixture(scope="session")
def wide_emulator(rtl_dirs, emu_cache, verilator_tool):  # type: ignore[no-untyped-def]
    from kiln.sim import Emulator

    return Emulator.build(rtl_dirs["wide_signed"], emu_cache, verilator=verilator_tool)
