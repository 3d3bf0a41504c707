"""Child process of kiln.sim.run_cocotb: ``python _cocotb_child.py SIMSPEC.json``.

Run as a script and importing only the standard library and cocotb_tools (not kiln, whose
import pulls in torch), it builds the simulator unless the build directory's stamp already
matches the spec, then runs the cocotb tests through cocotb's runner.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

BUILD_STAMP = "kiln_build.json"


def _current(spec: dict[str, Any]) -> bool:
    build_dir = Path(spec["build_dir"])
    try:
        stamp = json.loads((build_dir / BUILD_STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp.get("stamp") == spec["stamp"]
                and (build_dir / spec["toplevel"]).is_file())


def _runner(spec: dict[str, Any]) -> Any:
    """cocotb's Verilator runner with kiln's build changes: ``--public-depth N`` instead of
    ``--public-flat-rw`` (when asked), the seeded run-time objects touched after Verilator
    writes its makefile (so ``make`` keeps them), and extra ``make`` variables."""
    from cocotb_tools.runner import Verilator

    build_dir = Path(spec["build_dir"])
    touch = [str(build_dir / f"{stem}.o") for stem in spec["seeded"]]
    depth = spec["public_depth"]

    class KilnVerilator(Verilator):
        def _build_command(self) -> list[Any]:
            verilate, make, *rest = super()._build_command()
            if depth is not None:
                at = verilate.index("--public-flat-rw")
                verilate[at:at + 1] = ["--public-depth", str(depth)]
            touch_cmd = [["touch", *touch]] if touch else []
            return [verilate, *touch_cmd, [*make, *spec["make_args"]], *rest]

    return KilnVerilator()


def main(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    build_dir = Path(spec["build_dir"])
    runner = _runner(spec)
    if not _current(spec):
        build_dir.mkdir(parents=True, exist_ok=True)
        (build_dir / BUILD_STAMP).unlink(missing_ok=True)
        runner.build(sources=spec["sources"], hdl_toplevel=spec["toplevel"],
                     build_dir=build_dir, build_args=spec["build_args"],
                     timescale=("1ns", "1ps"), always=True)
        (build_dir / BUILD_STAMP).write_text(json.dumps({"stamp": spec["stamp"]}) + "\n")
    runner.test(test_module=spec["test_module"], hdl_toplevel=spec["toplevel"],
                hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=spec["test_dir"],
                results_xml=str(Path(spec["test_dir"]) / "results.xml"),
                extra_env={str(k): str(v) for k, v in spec["extra_env"]}, seed=spec["seed"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(sys.argv[1])
