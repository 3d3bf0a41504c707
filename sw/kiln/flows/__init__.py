"""Bitstreams and boards: the open flow (yosys, nextpnr, ecppack / icepack) for ECP5 and iCE40
boards behind a UART bridge, the Vivado flow (processing system + AXI DMA) for Zynq boards,
programming with openFPGALoader, and resource estimates with yosys ``synth_xilinx``.

Every flow first makes a :class:`BuildPlan` (files and tool steps; nothing runs), whose
``digest()`` keys the build cache; ``build_bitstream`` then runs it. Boards are data, in
``hw/boards/``; the UART wire format is :func:`pack_samples` / :func:`unpack_outputs`.
"""

from __future__ import annotations

from kiln.flows._bitstream import (
    TOOLCHAINS,
    build_bitstream,
    plan_bitstream,
    report_path,
    toolchain_for,
)
from kiln.flows._board import (
    Board,
    BoardError,
    IOStandard,
    Misc,
    Pins,
    Programmer,
    Resource,
    Subsignal,
)
from kiln.flows._boards import board_names, boards, get_board, hw_dir
from kiln.flows._cli import (
    add_bitstream_arguments,
    add_estimate_arguments,
    add_program_arguments,
    bitstream_command,
    estimate_command,
    program_command,
)
from kiln.flows._design import KilnTop
from kiln.flows._estimate import (
    XILINX_FAMILIES,
    ResourceEstimate,
    estimate_resources,
    plan_estimate,
)
from kiln.flows._open import IceStorm, Trellis, YosysNextpnr
from kiln.flows._plan import BuildPlan, BuildResult, Step
from kiln.flows._program import BoardNotFoundError, program
from kiln.flows._report import (
    BitstreamReport,
    ClockTiming,
    FitError,
    TimingError,
    Utilisation,
    parse_nextpnr_report,
)
from kiln.flows._toolchain import Toolchain
from kiln.flows._tools import (
    TOOLS,
    Tool,
    ToolFailedError,
    ToolSpec,
    at_least,
    require_tool,
    run_tool,
)
from kiln.flows._uart_bench import (
    UART_BENCH_TESTS,
    SimulatedSerialBoard,
    UartBenchReport,
    run_uart_bench,
    simulated_serial_board,
)
from kiln.flows._uart_protocol import (
    DEFAULT_BAUD,
    MAX_IN_FLIGHT,
    UartFormat,
    beat_bytes,
    pack_samples,
    unpack_outputs,
    unpack_samples,
)
from kiln.flows._vivado import DmaWidths, Vivado, VivadoZynq7, VivadoZynqMP

__all__ = [
    "DEFAULT_BAUD",
    "MAX_IN_FLIGHT",
    "TOOLCHAINS",
    "TOOLS",
    "UART_BENCH_TESTS",
    "XILINX_FAMILIES",
    "BitstreamReport",
    "Board",
    "BoardError",
    "BoardNotFoundError",
    "BuildPlan",
    "BuildResult",
    "ClockTiming",
    "DmaWidths",
    "FitError",
    "IOStandard",
    "IceStorm",
    "KilnTop",
    "Misc",
    "Pins",
    "Programmer",
    "Resource",
    "ResourceEstimate",
    "SimulatedSerialBoard",
    "Step",
    "Subsignal",
    "TimingError",
    "Tool",
    "ToolFailedError",
    "ToolSpec",
    "Toolchain",
    "Trellis",
    "UartBenchReport",
    "UartFormat",
    "Utilisation",
    "Vivado",
    "VivadoZynq7",
    "VivadoZynqMP",
    "YosysNextpnr",
    "add_bitstream_arguments",
    "add_estimate_arguments",
    "add_program_arguments",
    "at_least",
    "bitstream_command",
    "beat_bytes",
    "board_names",
    "boards",
    "build_bitstream",
    "estimate_command",
    "estimate_resources",
    "get_board",
    "hw_dir",
    "pack_samples",
    "parse_nextpnr_report",
    "plan_bitstream",
    "plan_estimate",
    "program",
    "program_command",
    "report_path",
    "require_tool",
    "run_tool",
    "run_uart_bench",
    "simulated_serial_board",
    "toolchain_for",
    "unpack_outputs",
    "unpack_samples",
]
