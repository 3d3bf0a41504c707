"""cocotb through its runner, described by a frozen :class:`SimSpec` and run in a child
process (the runner reads PATH for Verilator, keeps its settings as attributes and calls
``sys.exit`` on failure, none of which belongs in the caller's process).

The child is ``_cocotb_child.py`` run as a script (it imports nothing from kiln, so it starts
fast): it builds once per build directory (keyed by content hash) and runs the test module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields, replace
from pathlib import Path

from kiln.errors import KilnError
from kiln.sim import _objcache as objcache
from kiln.tools import Verilator, find_verilator, run_tool

log = logging.getLogger(__name__)

BUILD_STAMP = "kiln_build.json"  # also named in _cocotb_child.py
CHILD = Path(__file__).with_name("_cocotb_child.py")


def cocotb_version() -> str:
    from importlib.metadata import version

    return version("cocotb")
_DROP_ENV = ("PYTEST_CURRENT_TEST", "COCOTB_TEST_FILTER", "COCOTB_RESULTS_FILE")


@dataclass(frozen=True)
class SimSpec:
    """One cocotb build-and-test, fully described (nothing is kept on the runner).

    Attributes:
        sources: HDL sources, in compile order.
        toplevel: HDL top module.
        test_module: Python module with the cocotb tests (found in ``bench_dir``).
        bench_dir: directory holding ``test_module``.
        build_dir: where the simulator is built; reused while its stamp matches :attr:`stamp`.
        build_key: content hash of the sources and tool versions.
        test_dir: where the tests run and write their results.
        extra_env: environment for the simulation (e.g. the bench's config path).
        seed: cocotb's random seed.
        build_args: extra Verilator arguments.
        make_args: variables for the ``make`` step. The default compiles the model at -O0:
            a bench runs a few thousand cycles at ~200 us each in cocotb's scheduler, and
            a large design then builds several times faster.
        public_depth: make signals down to this module depth visible to cocotb (1: the top
            module's ports, which is all the benches touch); None for cocotb's default,
            ``--public-flat-rw`` on every signal, which slows large builds badly.
        timeout_s: wall-clock limit for build and test together.
        seeded: Verilator run-time objects (stems) already placed in ``build_dir`` from
            kiln's object cache; the build keeps them.
    """

    sources: tuple[Path, ...]
    toplevel: str
    test_module: str
    bench_dir: Path
    build_dir: Path
    build_key: str
    test_dir: Path
    extra_env: tuple[tuple[str, str], ...] = ()
    seed: int = 0
    build_args: tuple[str, ...] = ("-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast")
    make_args: tuple[str, ...] = ("OPT_FAST=-O0", "OPT_SLOW=-O0")
    public_depth: int | None = 1
    timeout_s: float = 600.0
    seeded: tuple[str, ...] = ()

    @property
    def results_xml(self) -> Path:
        return self.test_dir / "results.xml"

    @property
    def stamp(self) -> str:
        """Hash of everything the built simulator depends on."""
        text = json.dumps([self.build_key, self.toplevel, [str(s) for s in self.sources],
                           self.build_args, self.make_args, self.public_depth])
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["stamp"] = self.stamp
        return json.dumps(data, default=str, indent=2)




@dataclass(frozen=True)
class CocotbOutcome:
    """One cocotb test from results.xml."""

    name: str
    passed: bool
    sim_time_ns: float
    message: str = ""


@dataclass(frozen=True)
class CocotbRun:
    """What a cocotb run left behind."""

    outcomes: tuple[CocotbOutcome, ...]
    built: bool
    seconds: float
    log_file: Path


def run_cocotb(spec: SimSpec, verilator: Verilator | None = None) -> CocotbRun:
    """Build (unless ``spec.build_dir``'s stamp matches ``spec.stamp``) and run the tests in
    a child process; parse results.xml.

    Raises:
        ToolMissingError: Verilator or its build tools are missing.
        KilnError: the build failed, or the simulation left no results.
    """
    tool = verilator or find_verilator()
    spec = replace(spec, make_args=(*spec.make_args, *tool.make_overrides))
    built = not _build_current(spec)
    flavor = (f"cocotb {cocotb_version()} {' '.join(spec.build_args)} {' '.join(spec.make_args)} "
              f"{spec.public_depth}")
    if built:
        spec = replace(spec, seeded=objcache.seed(tool, flavor, spec.build_dir))
    spec.test_dir.mkdir(parents=True, exist_ok=True)
    spec_file = spec.test_dir / "simspec.json"
    spec_file.write_text(spec.to_json() + "\n")
    env = tool.env()
    for name in _DROP_ENV:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(spec.bench_dir), *filter(None, [env.get("PYTHONPATH")])])
    start = time.monotonic()
    log.info("cocotb: %s%s on %s", "building and running " if built else "running ",
             spec.test_module, spec.toplevel)
    log_file = spec.test_dir / "cocotb.log"
    spec.results_xml.unlink(missing_ok=True)
    try:
        run_tool([sys.executable, str(CHILD), str(spec_file)], cwd=spec.test_dir, env=env,
                 what="cocotb", log_file=log_file, timeout_s=spec.timeout_s)
    except KilnError:
        if not spec.results_xml.is_file():
            raise
    seconds = time.monotonic() - start
    if built and not spec.seeded and _build_current(spec):
        objcache.store(tool, flavor, spec.build_dir)
    return CocotbRun(parse_results(spec.results_xml), built, seconds, log_file)


def _build_current(spec: SimSpec) -> bool:
    stamp = spec.build_dir / BUILD_STAMP
    try:
        return bool(json.loads(stamp.read_text()).get("stamp") == spec.stamp
                    and (spec.build_dir / spec.toplevel).is_file())
    except (OSError, ValueError):
        return False


def parse_results(path: Path) -> tuple[CocotbOutcome, ...]:
    """Test outcomes from a cocotb xUnit results file."""
    if not path.is_file():
        raise KilnError(f"cocotb left no results file at {path}; see cocotb.log beside it")
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        message = "" if failure is None else (failure.get("message") or failure.text or "")
        outcomes.append(CocotbOutcome(case.get("name", "?"), failure is None,
                                    float(case.get("sim_time_ns", "0")), message.strip()))
    return tuple(outcomes)
