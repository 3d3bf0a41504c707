"""Dry runs: every board gets its files and scripts with no tools, and a stable digest; the
BuildPlan cache (execute_local) with a fake tool."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kiln.errors import ArtifactError, KilnError, ToolMissingError
from kiln.flows import (
    BuildPlan,
    Step,
    board_names,
    build_bitstream,
    get_board,
    plan_bitstream,
    toolchain_for,
)

EXPECTED_FILES = {
    "ecp5": {"synth.ys", "top.lpf", "build.sh", "rtl/kiln_top.v", "hw/kiln_uart_top.v",
             "hw/kiln_uart_bridge.v", "hw/kiln_uart_rx.v", "hw/kiln_uart_tx.v"},
    "ice40": {"synth.ys", "top.pcf", "build.sh", "rtl/kiln_top.v", "hw/kiln_uart_top.v",
              "hw/kiln_uart_bridge.v", "hw/kiln_uart_rx.v", "hw/kiln_uart_tx.v"},
    "zynq7": {"build.tcl", "build.sh", "rtl/kiln_top.v", "hw/kiln_axis_dma_wrap.v"},
    "zynqmp": {"build.tcl", "build.sh", "rtl/kiln_top.v", "hw/kiln_axis_dma_wrap.v"},
}


@pytest.mark.parametrize("board", board_names())
def test_every_board_plans_without_tools(board: str, tiny_artifact: Path) -> None:
    plan = plan_bitstream(tiny_artifact, board)
    family = get_board(board).family
    assert {path for path, _ in plan.files} == EXPECTED_FILES[family]
    assert plan.digest() == plan_bitstream(tiny_artifact, board).digest()
    assert len(plan.digest()) == 64
    assert plan.steps and all(step.tool for step in plan.steps)
    assert not (tiny_artifact / "bitstream").exists()  # planning writes nothing
    script = plan.text("build.sh")
    for step in plan.steps:
        assert step.args[-1] in script


def test_digest_follows_the_design(tiny_artifact: Path) -> None:
    before = plan_bitstream(tiny_artifact, "icebreaker").digest()
    top = tiny_artifact / "rtl" / "kiln_top.v"
    top.write_text(top.read_text().replace("x0 - x1", "x1 - x0"))
    assert plan_bitstream(tiny_artifact, "icebreaker").digest() != before
    assert plan_bitstream(tiny_artifact, "icebreaker", seed=2).digest() != \
        plan_bitstream(tiny_artifact, "icebreaker").digest()


def test_ecp5_plan(tiny_artifact: Path) -> None:
    plan = plan_bitstream(tiny_artifact, "ulx3s-85f")
    synth = plan.text("synth.ys")
    # synthesis stops after the coarse passes to turn $macc adder trees back into $add/$sub
    # (carry chains), then goes on: the digits MLP fits the 85F only this way
    run = [ln for ln in synth.splitlines() if ln and not ln.startswith("#")]
    first = run.index("synth_ecp5 -top kiln_uart_top -run :map_ram")
    assert run[first + 1:first + 4] == ["maccmap -unmap", "opt",
                                        "synth_ecp5 -top kiln_uart_top -run map_ram:"]
    assert "-chparam IN_BITS 24 -chparam OUT_BITS 20" in synth
    assert "-chparam CLK_HZ 25000000" in synth
    lpf = plan.text("top.lpf")
    assert 'LOCATE COMP "clk" SITE "G2";' in lpf
    assert 'LOCATE COMP "uart_tx" SITE "L4";' in lpf
    assert 'LOCATE COMP "uart_rx" SITE "M1";' in lpf
    assert 'FREQUENCY PORT "clk" 25 MHZ;' in lpf
    nextpnr = plan.steps[1]
    assert nextpnr.tool == "nextpnr-ecp5"
    assert nextpnr.args[:5] == ("--85k", "--package", "CABGA381", "--speed", "6")
    assert plan.steps[2].args[-2:] == ("--bit", "kiln.bit")
    assert toolchain_for("ulx3s-12f").device_args()[0] == "--12k"  # type: ignore[attr-defined]


def test_ice40_plan(tiny_artifact: Path) -> None:
    plan = plan_bitstream(tiny_artifact, "icebreaker")
    assert "synth_ice40 -top kiln_uart_top -dsp" in plan.text("synth.ys")
    assert "-chparam RST_ACTIVE_LOW 1 -chparam LED_ACTIVE_LOW 1" in plan.text("synth.ys")
    pcf = plan.text("top.pcf")
    for line in ("set_io -nowarn clk 35", "set_io -nowarn uart_rx 6",
                 "set_io -nowarn -pullup yes uart_tx 9", "set_io -nowarn rst_btn 10",
                 "set_frequency clk 12"):
        assert line in pcf
    assert plan.steps[1].args[:3] == ("--up5k", "--package", "sg48")
    assert plan.steps[2].args == ("top.asc", "kiln.bin")


def test_overrides_are_named_hooks(tiny_artifact: Path) -> None:
    plan = plan_bitstream(tiny_artifact, "icebreaker",
                          overrides={"script_after_synth": "# mine", "nextpnr_opts": "--placer sa"})
    assert "# mine" in plan.text("synth.ys")
    assert plan.steps[1].args[-2:] == ("--placer", "sa")
    with pytest.raises(KilnError, match="no override hook 'nope'; its hooks are: "):
        plan_bitstream(tiny_artifact, "icebreaker", overrides={"nope": ""})


def test_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="kiln compile"):
        plan_bitstream(tmp_path, "icebreaker")


def test_missing_tool_writes_the_scripts_then_stops(tiny_artifact: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_YOSYS", str(tiny_artifact / "no-such-yosys"))
    with pytest.raises(ToolMissingError, match="KILN_YOSYS") as info:
        build_bitstream(tiny_artifact, "icebreaker")
    assert "build.sh" in str(info.value)
    assert (tiny_artifact / "bitstream" / "icebreaker" / "synth.ys").is_file()
    assert not (tiny_artifact / "bitstream" / "icebreaker" / "kiln.bin").exists()


def _fake_tool(path: Path, body: str) -> Path:
    """A shell script standing in for a tool; ``-V`` prints a version."""
    path.write_text('#!/bin/sh\nif [ "$1" = -V ]; then echo "Yosys 0.99"; exit 0; fi\n'
                    + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_execute_local_caches_by_digest_and_tool(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "runs"
    fake = _fake_tool(tmp_path / "yosys", f'echo run >> {counter}\necho "$@" > out.txt')
    monkeypatch.setenv("KILN_YOSYS", str(fake))
    plan = BuildPlan("toy", (("in.txt", b"hello"),),
                     (Step("yosys", ("-s", "in.txt"), "fake synthesis", "yosys.out"),),
                     ("out.txt",))
    first = plan.execute_local(tmp_path / "build")
    assert not first.cached and (tmp_path / "build" / "out.txt").read_text() == "-s in.txt\n"
    assert json.loads((tmp_path / "build" / "kiln_build.json").read_text())["key"] == first.key
    second = plan.execute_local(tmp_path / "build")
    assert second.cached and second.key == first.key
    assert counter.read_text().count("run") == 1
    assert first.tools == {"yosys": "Yosys 0.99"}
    changed = BuildPlan("toy", (("in.txt", b"world"),), plan.steps, plan.products)
    assert not changed.execute_local(tmp_path / "build").cached
    assert counter.read_text().count("run") == 2
    (tmp_path / "build" / "out.txt").unlink()
    assert not changed.execute_local(tmp_path / "build").cached  # a product went missing


def test_a_failing_step_says_what_and_where(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from kiln.errors import ToolFailedError

    monkeypatch.setenv("KILN_YOSYS", str(_fake_tool(tmp_path / "yosys", "echo boom; exit 3")))
    plan = BuildPlan("toy", (), (Step("yosys", (), "fake synthesis", "yosys.out"),))
    with pytest.raises(ToolFailedError, match=r"toy: fake synthesis failed \(exit status 3\)"):
        plan.execute_local(tmp_path / "build")
    assert "boom" in (tmp_path / "build" / "yosys.out").read_text()


def test_plan_paths_must_be_relative() -> None:
    with pytest.raises(KilnError, match="not relative"):
        BuildPlan("bad", (("../x", b""),), ())
    assert os.sep == "/"


def test_a_step_can_be_stopped_by_its_output(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from kiln.errors import ToolFailedError
    from kiln.flows._report import over_capacity

    fake = _fake_tool(tmp_path / "yosys",
                      'echo "Info:          ICESTORM_LC:    6638/   5280   125%"; sleep 60')
    monkeypatch.setenv("KILN_YOSYS", str(fake))
    plan = BuildPlan("toy", (), (Step("yosys", (), "fake placement", "out", over_capacity),))
    start = time.monotonic()
    with pytest.raises(ToolFailedError, match="stopped early") as info:
        plan.execute_local(tmp_path / "build")
    assert time.monotonic() - start < 30
    assert "6638/   5280" in info.value.output
