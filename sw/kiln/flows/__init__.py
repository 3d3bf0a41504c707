"""Bitstreams and boards: the open flow (yosys, nextpnr, ecppack / icepack) for ECP5 and iCE40
boards behind a UART bridge, the Vivado flow (processing system + AXI DMA) for Zynq boards,
programming with openFPGALoader, and resource estimates with yosys ``synth_xilinx``.

Every flow first makes a :class:`BuildPlan` (files and tool steps; nothing runs), whose
``digest()`` keys the build cache; ``build_bitstream`` then runs it. Boards are data, in
``hw/boards/``. The design comes from the artifact's hardware contract
(:class:`kiln.artifact.TopSources`).
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
from kiln.flows._estimate import (
    XILINX_FAMILIES,
    ResourceEstimate,
    estimate_resources,
    plan_estimate,
)
from kiln.flows._open import IceStorm, Trellis, YosysNextpnr
from kiln.flows._parts import PARTS, PartCapacity, part_capacity
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
from kiln.flows._vivado import DmaWidths, Vivado, VivadoZynq7, VivadoZynqMP

__all__ = [
    "PARTS",
    "PartCapacity",
    "TOOLCHAINS",
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
    "Misc",
    "Pins",
    "Programmer",
    "Resource",
    "ResourceEstimate",
    "Step",
    "Subsignal",
    "TimingError",
    "Toolchain",
    "Trellis",
    "Utilisation",
    "Vivado",
    "VivadoZynq7",
    "VivadoZynqMP",
    "YosysNextpnr",
    "board_names",
    "boards",
    "build_bitstream",
    "estimate_resources",
    "get_board",
    "part_capacity",
    "hw_dir",
    "parse_nextpnr_report",
    "plan_bitstream",
    "plan_estimate",
    "program",
    "report_path",
    "toolchain_for",
]
