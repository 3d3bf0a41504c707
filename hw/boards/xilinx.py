"""Zynq boards for kiln's vendor flow (Vivado: processing system + AXI DMA + kiln_top).

Data only: importing this module builds frozen Board values and does nothing else.
kiln_top runs on the processing system's fabric clock; the pins below are the boards'
own clock, LEDs, buttons and UART (LiteX-Boards tul_pynq_z2.py and xilinx_zcu104.py).
"""

from __future__ import annotations

from kiln.flows import Board, IOStandard, Pins, Programmer, Subsignal

PYNQ_Z2 = Board(
    name="pynq-z2",
    title="TUL PYNQ-Z2 (Zynq-7000 XC7Z020)",
    family="zynq7",
    device="xc7z020clg400-1",
    io=(
        ("clk125", 0, Pins("H16"), IOStandard("LVCMOS33")),
        ("user_led", 0, Pins("R14"), IOStandard("LVCMOS33")),
        ("user_led", 1, Pins("P14"), IOStandard("LVCMOS33")),
        ("user_led", 2, Pins("N16"), IOStandard("LVCMOS33")),
        ("user_led", 3, Pins("M14"), IOStandard("LVCMOS33")),
        ("user_sw", 0, Pins("M20"), IOStandard("LVCMOS33")),
        ("user_sw", 1, Pins("M19"), IOStandard("LVCMOS33")),
        ("user_btn", 0, Pins("D19"), IOStandard("LVCMOS33")),
        ("user_btn", 1, Pins("D20"), IOStandard("LVCMOS33")),
        ("user_btn", 2, Pins("L20"), IOStandard("LVCMOS33")),
        ("user_btn", 3, Pins("L19"), IOStandard("LVCMOS33")),
        # Arduino header AR0/AR1
        ("serial", 0, Subsignal("tx", Pins("T14")), Subsignal("rx", Pins("U12")),
            IOStandard("LVCMOS33")),
    ),
    clock="clk125",
    clock_hz=125e6,
    programmer=Programmer("pynq"),
    leds=tuple(("user_led", i) for i in range(4)),
    vivado_board_part="tul.com.tw:pynq-z2:part0:1.0",
    fabric_clock_mhz=100.0,
    url="https://www.tulembedded.com/FPGA/ProductsPYNQ-Z2.html",
)

ZCU104 = Board(
    name="zcu104",
    title="AMD Xilinx ZCU104 (Zynq UltraScale+ XCZU7EV)",
    family="zynqmp",
    device="xczu7ev-ffvc1156-2-e",
    io=(
        ("clk125", 0, Subsignal("p", Pins("F23")), Subsignal("n", Pins("E23")),
            IOStandard("LVDS")),
        ("cpu_reset", 0, Pins("M11"), IOStandard("LVCMOS33")),
        ("user_led", 0, Pins("D5"), IOStandard("LVCMOS33")),
        ("user_led", 1, Pins("D6"), IOStandard("LVCMOS33")),
        ("user_led", 2, Pins("A5"), IOStandard("LVCMOS33")),
        ("user_led", 3, Pins("B5"), IOStandard("LVCMOS33")),
        ("user_btn", 0, Pins("B4"), IOStandard("LVCMOS33")),
        ("user_btn", 1, Pins("C4"), IOStandard("LVCMOS33")),
        ("user_btn", 2, Pins("B3"), IOStandard("LVCMOS33")),
        ("user_btn", 3, Pins("C3"), IOStandard("LVCMOS33")),
        ("serial", 0, Subsignal("tx", Pins("C19")), Subsignal("rx", Pins("A20")),
            IOStandard("LVCMOS18")),
    ),
    clock="clk125",
    clock_hz=125e6,
    programmer=Programmer("pynq"),
    leds=tuple(("user_led", i) for i in range(4)),
    vivado_board_part="xilinx.com:zcu104:part0:1.1",
    fabric_clock_mhz=100.0,
    url="https://www.xilinx.com/products/boards-and-kits/zcu104.html",
)

BOARDS = (PYNQ_Z2, ZCU104)
