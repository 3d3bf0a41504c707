"""Lattice boards for kiln's open flow (yosys, nextpnr, ecppack / icepack).

Data only: importing this module builds frozen Board values and does nothing else.
Pins follow LiteX-Boards (litex_boards/platforms/radiona_ulx3s.py and
1bitsquared_icebreaker.py) and the boards' own constraint files.
"""

from __future__ import annotations

from dataclasses import replace

from kiln.flows import Board, IOStandard, Misc, Pins, Programmer, Subsignal

_ULX3S_IO = (
    ("clk25", 0, Pins("G2"), IOStandard("LVCMOS33")),
    # FIRE1 button (BTN1): active high, pulled down on the FPGA side.
    ("rst", 0, Pins("R1"), IOStandard("LVCMOS33"), Misc("PULLMODE=DOWN")),
    ("user_led", 0, Pins("B2"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 1, Pins("C2"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 2, Pins("C1"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 3, Pins("D2"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 4, Pins("D1"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 5, Pins("E2"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 6, Pins("E1"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    ("user_led", 7, Pins("H3"), IOStandard("LVCMOS33"), Misc("DRIVE=4")),
    # The FT231X USB UART: tx is ftdi_rxd (FPGA -> host), rx is ftdi_txd (host -> FPGA).
    ("serial", 0,
        Subsignal("tx", Pins("L4"), Misc("DRIVE=4")),
        Subsignal("rx", Pins("M1"), Misc("PULLMODE=UP")),
        IOStandard("LVCMOS33")),
)

ULX3S_85F = Board(
    name="ulx3s-85f",
    title="Radiona ULX3S (ECP5 LFE5U-85F)",
    family="ecp5",
    device="LFE5U-85F-6BG381C",
    io=_ULX3S_IO,
    clock="clk25",
    clock_hz=25e6,
    programmer=Programmer("openFPGALoader", "ulx3s"),
    uart="serial",
    reset="rst",
    leds=tuple(("user_led", i) for i in range(8)),
    url="https://radiona.org/ulx3s/",
)
ULX3S_45F = replace(ULX3S_85F, name="ulx3s-45f", title="Radiona ULX3S (ECP5 LFE5U-45F)",
                    device="LFE5U-45F-6BG381C")
ULX3S_25F = replace(ULX3S_85F, name="ulx3s-25f", title="Radiona ULX3S (ECP5 LFE5U-25F)",
                    device="LFE5U-25F-6BG381C")
ULX3S_12F = replace(ULX3S_85F, name="ulx3s-12f", title="Radiona ULX3S (ECP5 LFE5U-12F)",
                    device="LFE5U-12F-6BG381C")

ICEBREAKER = Board(
    name="icebreaker",
    title="1BitSquared iCEBreaker (iCE40 UP5K)",
    family="ice40",
    device="iCE40UP5K-SG48",
    io=(
        ("clk12", 0, Pins("35"), IOStandard("LVCMOS33")),
        ("user_btn_n", 0, Pins("10"), IOStandard("LVCMOS33")),
        ("user_ledr_n", 0, Pins("11"), IOStandard("LVCMOS33")),
        ("user_ledg_n", 0, Pins("37"), IOStandard("LVCMOS33")),
        # The FT2232H's second channel (interface B) as a UART.
        ("serial", 0,
            Subsignal("rx", Pins("6")),
            Subsignal("tx", Pins("9"), Misc("PULLUP")),
            IOStandard("LVCMOS33")),
    ),
    clock="clk12",
    clock_hz=12e6,
    programmer=Programmer("openFPGALoader", "ice40_generic"),
    uart="serial",
    reset="user_btn_n",
    # green: heartbeat, red: error
    leds=(("user_ledg_n", 0), ("user_ledr_n", 0)),
    url="https://1bitsquared.com/products/icebreaker",
)

BOARDS = (ULX3S_85F, ULX3S_45F, ULX3S_25F, ULX3S_12F, ICEBREAKER)
