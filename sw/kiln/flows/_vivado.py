"""The vendor flow for Zynq boards: a Vivado project Tcl script (from
``hw/templates/vivado_zynq.tcl.j2``) with a block design of the processing system, an AXI DMA
and ``kiln_top`` (in ``hw/vivado/kiln_axis_dma_wrap.v``) between the DMA's two streams. It
writes ``kiln.bit`` and ``kiln.hwh``, the pair PYNQ's ``Overlay`` loads.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from kiln.artifact import TopSources
from kiln.errors import KilnError
from kiln.flows._plan import BuildPlan, BuildResult, Step
from kiln.flows._report import BitstreamReport, ClockTiming, Utilisation
from kiln.flows._toolchain import Toolchain

__all__ = ["DmaWidths", "Vivado", "VivadoZynq7", "VivadoZynqMP"]

WRAPPER = "vivado/kiln_axis_dma_wrap.v"
MAX_DMA_BITS = 1024


@dataclass(frozen=True)
class DmaWidths:
    """Stream and memory-map widths of the AXI DMA for one design (powers of two, 32..1024;
    one DMA beat carries one sample)."""

    in_width: int
    out_width: int

    @property
    def mm_width(self) -> int:
        return max(self.in_width, self.out_width)

    @classmethod
    def of(cls, design: TopSources) -> DmaWidths:
        widths = []
        c = design.contract
        for what, bits in (("input", c.in_bits), ("output", c.out_bits)):
            if bits > MAX_DMA_BITS:
                raise KilnError(
                    f"The AXI DMA streams at most {MAX_DMA_BITS} bits per beat, and one beat "
                    f"is one sample; this design's {what} is {bits} bits per sample. Use fewer "
                    f"or narrower {what}s (`--precision`), or io_stream.")
            widths.append(max(32, 1 << (bits - 1).bit_length()))
        return cls(widths[0], widths[1])


@dataclass(frozen=True)
class Vivado(Toolchain):
    """Vivado in batch mode on a generated project script. Subclasses name the processing
    system IP and its ports."""

    jobs: int = 4                       # Vivado's parallel runs
    allow_timing_fail: bool = False

    ps_ip: ClassVar[str]
    ps_cell: ClassVar[str]
    ps_clock: ClassVar[str]
    ps_resetn: ClassVar[str]
    ps_master: ClassVar[str]
    ps_slave: ClassVar[str]
    ps_automation: ClassVar[tuple[tuple[str, str], ...]]
    bitstream_name = "kiln.bit"
    hooks = ("script_after_read", "block_design", "script_before_impl",
             "script_after_bitstream")

    @abstractmethod
    def ps_config(self) -> tuple[tuple[str, str], ...]:
        """CONFIG properties of the processing system (ports used, fabric clock)."""

    def plan(self, design: TopSources) -> BuildPlan:
        dma = DmaWidths.of(design)
        files = self.design_files(design, (WRAPPER,))
        sources = [path for path, _ in files]
        ps = {"ip": self.ps_ip, "cell": self.ps_cell, "clock": self.ps_clock,
              "resetn": self.ps_resetn, "master": self.ps_master, "slave": self.ps_slave,
              "automation": self.ps_automation, "config": self.ps_config()}
        files.append(("build.tcl", self.render(
            "vivado_zynq.tcl.j2", sources=sources, board_part=self.board.vivado_board_part or "",
            jobs=self.jobs, allow_timing_fail=int(self.allow_timing_fail),
            ps=ps, dma=dma, in_bits=design.contract.in_bits, out_bits=design.contract.out_bits,
            fabric_clock_mhz=f"{self.board.fabric_clock_mhz:g}")))
        steps = (Step("vivado", ("-mode", "batch", "-nojournal", "-log", "vivado.log",
                                 "-source", "build.tcl"),
                      "Vivado: block design, synthesis, implementation, bitstream",
                      "vivado.out"),)
        files.append(self.script(self.board.name, steps))
        return BuildPlan(self.board.name, tuple(files), steps,
                         ("kiln.bit", "kiln.hwh", "kiln_vivado.json"))

    def finish(self, design: TopSources, build: BuildResult, plan: BuildPlan) -> BitstreamReport:
        data = json.loads((build.root / "kiln_vivado.json").read_text())
        period = 1000.0 / float(data["clock_mhz"])
        achieved = 1000.0 / max(period - float(data["wns_ns"]), 1e-3)
        util = tuple(Utilisation(label, int(data[key]), None)
                     for key, label in (("brams", "BRAM"), ("dsps", "DSP"), ("ffs", "FF"),
                                        ("luts", "LUT")))
        return BitstreamReport(
            board=self.board.name, device=self.board.device, family=self.family,
            bitstream=build.root / "kiln.bit", utilisation=util,
            clocks=(ClockTiming(self.ps_clock, achieved, float(data["clock_mhz"])),),
            cached=build.cached, seconds=build.seconds, tools=build.tools,
            digest=plan.digest(), extra_files={"hwh": build.root / "kiln.hwh"})


@dataclass(frozen=True)
class VivadoZynq7(Vivado):
    """Zynq-7000: processing_system7, GP0 master for control, HP0 slave for data."""

    family = "zynq7"
    ps_ip = "processing_system7"
    ps_cell = "processing_system7_0"
    ps_clock = "FCLK_CLK0"
    ps_resetn = "FCLK_RESET0_N"
    ps_master = "M_AXI_GP0"
    ps_slave = "S_AXI_HP0"
    ps_automation = (("make_external", "FIXED_IO, DDR"), ("Master", "Disable"),
                     ("Slave", "Disable"))

    def ps_config(self) -> tuple[tuple[str, str], ...]:
        return (("PCW_USE_M_AXI_GP0", "1"), ("PCW_USE_S_AXI_HP0", "1"),
                ("PCW_EN_CLK0_PORT", "1"), ("PCW_EN_RST0_PORT", "1"),
                ("PCW_FPGA0_PERIPHERAL_FREQMHZ", f"{self.board.fabric_clock_mhz:g}"))


@dataclass(frozen=True)
class VivadoZynqMP(Vivado):
    """Zynq UltraScale+: zynq_ultra_ps_e, HPM0_FPD master for control, HP0_FPD for data."""

    family = "zynqmp"
    ps_ip = "zynq_ultra_ps_e"
    ps_cell = "zynq_ultra_ps_e_0"
    ps_clock = "pl_clk0"
    ps_resetn = "pl_resetn0"
    ps_master = "M_AXI_HPM0_FPD"
    ps_slave = "S_AXI_HP0_FPD"
    ps_automation = ()

    def ps_config(self) -> tuple[tuple[str, str], ...]:
        return (("PSU__USE__M_AXI_GP0", "1"), ("PSU__USE__M_AXI_GP1", "0"),
                ("PSU__USE__M_AXI_GP2", "0"), ("PSU__USE__S_AXI_GP2", "1"),
                ("PSU__FPGA_PL0_ENABLE", "1"),
                ("PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", f"{self.board.fabric_clock_mhz:g}"))
