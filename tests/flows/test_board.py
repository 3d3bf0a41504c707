"""Boards as data: LiteX-style resources, validation, and the registry of hw/boards/."""

from __future__ import annotations

import pytest

from kiln.flows import (
    Board,
    BoardError,
    IOStandard,
    Misc,
    Pins,
    Programmer,
    Resource,
    Subsignal,
    board_names,
    boards,
    get_board,
)


def test_resource_from_litex_tuple() -> None:
    clk = Resource.of(("clk25", 0, Pins("G2"), IOStandard("LVCMOS33")))
    assert (clk.name, clk.number, clk.pins, clk.iostandard) == ("clk25", 0, ("G2",), "LVCMOS33")
    serial = Resource.of(("serial", 0, Subsignal("tx", Pins("L4"), Misc("DRIVE=4")),
                          Subsignal("rx", Pins("M1")), IOStandard("LVCMOS33"),
                          Misc("SLEWRATE=SLOW")))
    tx = serial.subsignal("tx")
    assert (tx.pins, tx.iostandard, tx.misc) == (("L4",), "LVCMOS33", ("SLEWRATE=SLOW", "DRIVE=4"))
    assert Pins("A1 B2", "C3").names == ("A1", "B2", "C3")
    assert Resource.of(("user_btn_n", 0, Pins("10"))).active_low


@pytest.mark.parametrize("spec,match", [
    (("clk", Pins("A1")), "name, number"),
    (("clk", 0, IOStandard("LVCMOS33")), "either Pins or Subsignals"),
    (("clk", 0, Pins("A1"), "G2"), "not Pins, IOStandard"),
])
def test_bad_resources_are_refused(spec: tuple[object, ...], match: str) -> None:
    with pytest.raises(BoardError, match=match):
        Resource.of(spec)  # type: ignore[arg-type]


def _board(**changes: object) -> Board:
    fields: dict[str, object] = dict(
        name="toy", title="Toy", family="ice40", device="iCE40UP5K-SG48",
        io=(("clk12", 0, Pins("35")), ("led", 0, Pins("11"))), clock="clk12", clock_hz=12e6,
        programmer=Programmer("openFPGALoader", "ice40_generic"), leds=(("led", 0),))
    fields.update(changes)
    return Board(**fields)  # type: ignore[arg-type]


def test_board_checks_what_it_names() -> None:
    assert _board().lookup("clk12").pins == ("35",)
    with pytest.raises(BoardError, match="no resource rst:0; it has clk12:0, led:0"):
        _board(reset="rst")
    with pytest.raises(BoardError, match="share a name and number"):
        _board(io=(("clk12", 0, Pins("35")), ("clk12", 0, Pins("36"))), leds=())
    with pytest.raises(BoardError, match="clock_hz"):
        _board(clock_hz=0)
    with pytest.raises(BoardError, match="mix active-high and active-low"):
        _board(io=(("clk12", 0, Pins("35")), ("led", 0, Pins("11")), ("led_n", 0, Pins("12"))),
               leds=(("led", 0), ("led_n", 0)))


def test_registry_has_the_issue_boards() -> None:
    names = board_names()
    for name in ("ulx3s-85f", "icebreaker", "pynq-z2", "zcu104"):
        assert name in names
    assert names == sorted(names)
    with pytest.raises(BoardError, match="Unknown board 'nope'; kiln knows: icebreaker"):
        get_board("nope")


def test_board_facts() -> None:
    ulx3s = get_board("ulx3s-85f")
    assert (ulx3s.family, ulx3s.device, ulx3s.clock_hz) == ("ecp5", "LFE5U-85F-6BG381C", 25e6)
    assert ulx3s.lookup("clk25").pins == ("G2",)
    assert ulx3s.lookup("serial").subsignal("tx").pins == ("L4",)
    assert ulx3s.lookup("serial").subsignal("rx").pins == ("M1",)
    ice = get_board("icebreaker")
    assert (ice.family, ice.device, ice.clock_hz) == ("ice40", "iCE40UP5K-SG48", 12e6)
    assert ice.lookup("clk12").pins == ("35",)
    assert ice.lookup("serial").subsignal("tx").pins == ("9",)
    assert ice.lookup("serial").subsignal("rx").pins == ("6",)
    assert ice.lookup(ice.reset or "").active_low
    assert get_board("pynq-z2").device == "xc7z020clg400-1"
    assert get_board("zcu104").device == "xczu7ev-ffvc1156-2-e"


def test_boards_are_frozen_values() -> None:
    first, second = boards(), boards()
    assert first == second
    with pytest.raises(AttributeError):
        first["icebreaker"].device = "x"  # type: ignore[misc]
    assert get_board(first["icebreaker"]) is first["icebreaker"]
