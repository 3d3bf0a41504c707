"""A tiny g++ harness that runs code against hls4ml's own ap_types and nnet_utils headers.

A test builds a list of :class:`Case` objects (C++ declarations plus a function body that maps
an int64 input array to an int64 output vector), :func:`build` compiles them into one program
with the flags hls4ml's ``build_lib.sh`` uses, and :meth:`Program.run` feeds every case its
inputs through stdin and returns every case's outputs. Executables are cached by source hash.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kiln.ir import FixedType


def hls_templates() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def cpp_type(t: FixedType) -> str:
    """The C++ spelling with explicit modes (hls4ml writes them the same way)."""
    kind = "ap_fixed" if t.signed else "ap_ufixed"
    return f"{kind}<{t.width},{t.integer},AP_{t.rounding},AP_{t.overflow}>"


@dataclass(frozen=True)
class Case:
    """``body`` runs inside ``void f(const long long* in, long long n, std::vector<long long>&
    out)``; ``decl`` goes at namespace scope before it (once per translation unit, so cases
    that share a config struct all carry the same ``decl``)."""

    body: str
    decl: str = ""


_MAIN = r"""
int main() {
    std::vector<long long> out;
    for (int k = 0; k < N_CASES; ++k) {
        long long n = 0;
        if (std::fread(&n, sizeof n, 1, stdin) != 1) return 2;
        std::vector<long long> in(n);
        if (n && std::fread(in.data(), sizeof(long long), n, stdin) != (size_t)n) return 3;
        out.clear();
        CASES[k](in.data(), n, out);
        long long m = out.size();
        std::fwrite(&m, sizeof m, 1, stdout);
        std::fwrite(out.data(), sizeof(long long), m, stdout);
    }
    return 0;
}
"""


def _unit(cases: list[Case], first: int, includes: tuple[str, ...]) -> str:
    lines = [f'#include "{h}"' for h in includes]
    lines += ["#include <cstdio>", "#include <cstring>", "#include <vector>", ""]
    declared: set[str] = set()
    for k, case in enumerate(cases, start=first):
        if case.decl not in declared:  # a shared declaration appears once per unit
            declared.add(case.decl)
            lines.append(case.decl)
        lines += [f"void case_{k}(const long long* in, long long n, "
                  "std::vector<long long>& out) {", case.body, "}", ""]
    return "\n".join(lines)


def _main_unit(n_cases: int) -> str:
    lines = ["#include <cstdio>", "#include <vector>"]
    lines += [f"void case_{k}(const long long*, long long, std::vector<long long>&);"
              for k in range(n_cases)]
    table = ", ".join(f"case_{k}" for k in range(n_cases))
    lines += [f"static const int N_CASES = {n_cases};",
              "typedef void (*case_fn)(const long long*, long long, std::vector<long long>&);",
              f"static case_fn CASES[] = {{{table}}};", _MAIN]
    return "\n".join(lines)


def _flags(opt: str) -> list[str]:
    # As hls4ml's build_lib.sh: -O3, C++23 when the compiler has it, else C++11.
    std = "-std=c++23"
    probe = subprocess.run(["g++", "-Werror", "-fsyntax-only", std, "-xc++", "-", "-o",
                            os.devnull], input="", capture_output=True, text=True)
    return [opt, "-fPIC", std if probe.returncode == 0 else "-std=c++11", "-w"]


@dataclass(frozen=True)
class Program:
    path: Path
    n_cases: int

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run every case on its int64 (or float64, passed bit for bit) input array."""
        assert len(inputs) == self.n_cases
        chunks = []
        for array in inputs:
            a = np.ascontiguousarray(array).reshape(-1)
            a = a.view(np.int64) if a.dtype == np.float64 else a.astype(np.int64)
            chunks += [np.array([a.size], dtype=np.int64).tobytes(), a.tobytes()]
        done = subprocess.run([str(self.path)], input=b"".join(chunks), capture_output=True,
                              check=True, timeout=120)
        data = np.frombuffer(done.stdout, dtype=np.int64)
        outputs, at = [], 0
        for _ in range(self.n_cases):
            m = int(data[at])
            outputs.append(data[at + 1:at + 1 + m].copy())
            at += 1 + m
        assert at == data.size
        return outputs


def cache_dir() -> Path:
    """Where built harnesses are kept between sessions (``KILN_TEST_CACHE`` overrides)."""
    root = os.environ.get("KILN_TEST_CACHE") or tempfile.gettempdir()
    path = Path(root) / f"kiln-ap-harness-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _toolchain_id() -> str:
    import hls4ml

    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    return f"{gxx.splitlines()[0] if gxx else ''} hls4ml {hls4ml.__version__}"


def build(cases: list[Case], includes: tuple[str, ...] = ("ap_fixed.h",),
          opt: str = "-O3") -> Program:
    """Compile ``cases`` with g++ against hls4ml's headers (cached by source hash).

    ``opt`` defaults to hls4ml's -O3; pure ap_fixed integer code may use -O0 to build faster.
    The cases are split over one translation unit per CPU (at most 4), compiled in parallel.
    """
    if shutil.which("g++") is None:
        pytest.fail("g++ is required for the ap_fixed reference tests")
    jobs = max(1, min(4, os.cpu_count() or 1, len(cases)))
    bounds = [round(j * len(cases) / jobs) for j in range(jobs + 1)]
    units = [_unit(cases[a:b], a, includes) for a, b in zip(bounds, bounds[1:], strict=False)]
    units.append(_main_unit(len(cases)))
    flags = _flags(opt)
    key = "\0".join([*units, *flags, _toolchain_id()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    exe = cache_dir() / f"harness-{digest}"
    if exe.exists():
        return Program(exe, len(cases))
    workdir = Path(tempfile.mkdtemp(prefix=f"build-{digest}-", dir=cache_dir()))
    root = hls_templates()
    objects, running = [], []
    for j, text in enumerate(units):
        src = workdir / f"harness-{digest}-{j}.cpp"
        src.write_text(text)
        objects.append(src.with_suffix(".o"))
        running.append(subprocess.Popen(
            ["g++", *flags, f"-I{root}", f"-I{root / 'ap_types'}", "-c", str(src), "-o",
             str(objects[-1])], stderr=subprocess.PIPE, text=True))
    for src_index, proc in enumerate(running):
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"g++ failed on unit {src_index} in {workdir}:\n{err[-4000:]}")
    linked = workdir / "harness"
    done = subprocess.run(["g++", *[str(o) for o in objects], "-lm", "-o", str(linked)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"linking the harness failed:\n{done.stderr[-4000:]}")
    os.replace(linked, exe)  # atomic: a concurrent session sees all of it or none
    shutil.rmtree(workdir, ignore_errors=True)
    return Program(exe, len(cases))
