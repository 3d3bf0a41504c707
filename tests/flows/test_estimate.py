"""Resource estimates without a board: yosys synth_xilinx on kiln_top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.errors import KilnError
from kiln.flows import estimate_resources, plan_estimate


def test_plan_names_the_family(tiny_artifact: Path) -> None:
    plan = plan_estimate(tiny_artifact, "xc7")
    script = plan.text("estimate.ys")
    assert "synth_xilinx -family xc7 -top kiln_top -flatten -noiopad -run :map_memory" in script
    assert "maccmap -unmap\nopt\nsynth_xilinx -family xc7 -top kiln_top -flatten -noiopad " \
        "-run map_memory:" in script
    assert plan.digest() != plan_estimate(tiny_artifact, "xcup").digest()
    with pytest.raises(KilnError, match="Unknown Xilinx family 'xc9' .*use one of xcup, xcu, xc7"):
        plan_estimate(tiny_artifact, "xc9")


def test_ultrascale_plus_estimate(tiny_artifact: Path) -> None:
    est = estimate_resources(tiny_artifact, "xcup")
    r = est.resources
    # six 10-bit adders: LUTs and carry chains; two pipeline stages of registers; the constant
    # multiplies need no DSP
    assert 20 <= r["LUT"] <= 200 and 40 <= r["FF"] <= 120
    assert r["CARRY"] >= 1 and r["DSP"] == 0
    assert "CARRY4" in est.cells or "CARRY8" in est.cells
    assert "IBUF" not in est.cells  # kiln_top's ports are not the chip's pins
    saved = json.loads((tiny_artifact / "reports" / "resources.json").read_text())
    assert saved["yosys_synth_xilinx"]["xcup"]["resources"] == dict(r)
    estimate_resources(tiny_artifact, "xc7")
    saved = json.loads((tiny_artifact / "reports" / "resources.json").read_text())
    assert set(saved["yosys_synth_xilinx"]) == {"xcup", "xc7"}
    assert "CARRY4" in saved["yosys_synth_xilinx"]["xc7"]["cells"]
