"""Layer probes on the Verilated ``kiln_top``: every stage's output stream, beat by beat.

The probe library is the bulk emulator's harness plus ``sim/harness/kiln_probe.cpp``,
Verilated with ``--vpi`` and ``sim/harness/kiln_probe.vlt``, which makes kiln_top's stage
streams (``*_y``, ``*_out_valid``, ``*_ce``) readable by name; the rest of the design is
optimised as usual. A probe watches a stream ``(data, valid, ce)``: each clock edge with
``valid`` and ``ce`` high hands the beat on ``data`` on (``ce`` is the stage's
ready-or-empty), so the beats it records are exactly the stream's, in order. Built once per
RTL content, as the emulator.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln._checkout import sim_source_dir
from kiln.artifact import TopSources, as_input_codes, file_digest
from kiln.errors import KilnError
from kiln.sim import _objcache as objcache
from kiln.sim._emulator import LINK_FLAGS, MAKE_FLAGS
from kiln.tools import Verilator, find_verilator, run_tool

log = logging.getLogger(__name__)

LIBRARY = "libkiln_probe.so"
HARNESS = Path("harness") / "kiln_probe.cpp"
EMU_HARNESS = Path("harness") / "kiln_emu.cpp"
CONFIG = Path("harness") / "kiln_probe.vlt"
VERILATOR_FLAGS = (
    "--cc", "--exe", "--vpi", "--prefix", "Vkiln_top", "-O3",
    "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
)
_RUNTIME_FLAVOR = f"probe --vpi -fPIC {' '.join(MAKE_FLAGS)}"
#: The name kiln_emu.cpp gives its model instance: VPI names start with it.
_INSTANCE = "kiln_top"
_I64P = ctypes.POINTER(ctypes.c_int64)
_U32P = ctypes.POINTER(ctypes.c_uint32)


@dataclass(frozen=True)
class Stream:
    """A stream inside the design to probe: its signal names (without the top's scope)."""

    name: str
    data: str
    valid: str
    ce: str

    @classmethod
    def of_stage(cls, name: str) -> Stream:
        """kiln.rtl's stream after stage ``name``: ``<name>_y``, ``<name>_out_valid``,
        ``<name>_ce``."""
        return cls(name, f"{name}_y", f"{name}_out_valid", f"{name}_ce")


@dataclass(frozen=True)
class ProbeResult:
    """Each probed stream's beats as words, (beats, ceil(width / 32)) uint32, with its
    data width in bits; streams the design lacks are missing."""

    beats: dict[str, NDArray[Any]]
    widths: dict[str, int]
    missing: tuple[str, ...]

    def codes(self, name: str, elems: int, width: int, signed: bool) -> NDArray[Any]:
        """The beats of stream ``name`` unpacked into ``elems`` elements of ``width`` bits
        (little-endian, two's complement when signed): (beats, elems) int64."""
        words = self.beats[name]
        out = np.zeros((len(words), elems), dtype=np.int64)
        mask = (1 << width) - 1
        for b, row in enumerate(words):
            value = int.from_bytes(row.astype("<u4").tobytes(), "little")
            for e in range(elems):
                code = (value >> (e * width)) & mask
                if signed and code >> (width - 1):
                    code -= 1 << width
                out[b, e] = code
        return out


class Probe:
    """The probe library of one ``kiln_top``; build it with :meth:`build`."""

    def __init__(self, library: Path, design: TopSources) -> None:
        self.library = library
        self.design = design
        lib = ctypes.CDLL(str(library))
        lib.kiln_probe_open.restype = ctypes.c_void_p
        lib.kiln_probe_watch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.c_char_p, _I64P]
        lib.kiln_probe_run.argtypes = [ctypes.c_void_p, _I64P, ctypes.c_int64, ctypes.c_int64,
                                       ctypes.c_int64]
        lib.kiln_probe_beats.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.kiln_probe_beats.restype = ctypes.c_int64
        lib.kiln_probe_copy.argtypes = [ctypes.c_void_p, ctypes.c_int, _U32P]
        lib.kiln_probe_close.argtypes = [ctypes.c_void_p]
        self._lib = lib

    @classmethod
    def build(cls, rtl_dir: str | Path, cache_dir: str | Path, *, jobs: int | None = None,
              verilator: Verilator | None = None) -> Probe:
        """Verilate ``rtl_dir`` with probes into ``cache_dir/probe/<key>/``, or reuse it (the
        key hashes the RTL, both harness sources, the Verilator version and the flags).

        Raises:
            ToolMissingError: Verilator, perl, make or g++ is not installed.
            KilnError: the build failed (the message has the log's tail).
        """
        design = TopSources.load(rtl_dir)
        tool = verilator or find_verilator()
        harness_dir = sim_source_dir() / "harness"
        sources = [sim_source_dir() / p for p in (HARNESS, EMU_HARNESS, CONFIG)]
        for source in sources:
            if not source.is_file():
                raise KilnError(f"The probe harness {source} is missing; set $KILN_SIM_DIR to "
                                "the repository's sim/ folder")
        key = design.digest(b"".join(s.read_bytes() for s in sources), tool.version,
                            " ".join(VERILATOR_FLAGS), " ".join(MAKE_FLAGS), LINK_FLAGS)
        final = Path(cache_dir).resolve() / "probe" / key[:16]
        info = final / "build.json"
        built = json.loads(info.read_text()) if info.is_file() else {}
        if (final / LIBRARY).is_file() and built.get("key") == key \
                and built.get("sha256") == file_digest(final / LIBRARY):
            return cls(final / LIBRARY, design)
        _compile(design, tool, harness_dir, key, final, jobs or os.cpu_count() or 1)
        return cls(final / LIBRARY, design)

    def run(self, codes: Any, streams: list[Stream]) -> ProbeResult:
        """Stream every sample of ``codes`` (n, in_elems per frame) through a freshly reset
        design at full rate, recording every beat of ``streams``.

        Raises:
            KilnError: the design stopped producing outputs.
        """
        g = self.design.contract
        frames = as_input_codes(codes, g)
        n = len(frames)
        inputs = np.ascontiguousarray(frames.reshape(n * g.in_beats, g.in_elems))
        lib = self._lib
        handle = lib.kiln_probe_open()
        try:
            watched: dict[str, tuple[int, int]] = {}
            missing = []
            scope = f"{_INSTANCE}.{g.top}"   # the harness's model instance, then the module
            for s in streams:
                width = ctypes.c_int64(0)
                index = lib.kiln_probe_watch(handle, f"{scope}.{s.data}".encode(),
                                             f"{scope}.{s.valid}".encode(),
                                             f"{scope}.{s.ce}".encode(), ctypes.byref(width))
                if index < 0:
                    missing.append(s.name)
                else:
                    watched[s.name] = (index, width.value)
            start = time.perf_counter()
            status = lib.kiln_probe_run(handle, inputs.ctypes.data_as(_I64P), len(inputs),
                                        n * g.out_beats, 10_000 + 100 * g.latency)
            if status != 0:
                raise KilnError(f"Probe of {self.design.rtl_dir}: the design stopped producing "
                                f"outputs before {n} samples came out")
            beats = {}
            for name, (slot, bits) in watched.items():
                count = lib.kiln_probe_beats(handle, slot)
                words = np.zeros((count, (bits + 31) // 32), dtype=np.uint32)
                if count:
                    lib.kiln_probe_copy(handle, slot, words.ctypes.data_as(_U32P))
                beats[name] = words
            log.debug("probe: %d samples, %d streams, %.3f s", n, len(watched),
                      time.perf_counter() - start)
        finally:
            lib.kiln_probe_close(handle)
        return ProbeResult(beats, {k: w for k, (_, w) in watched.items()}, tuple(missing))


def _compile(design: TopSources, tool: Verilator, harness_dir: Path, key: str, final: Path,
             jobs: int) -> None:
    g = design.contract
    tmp = final.parent / f".build-{key[:16]}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    defines = (f"-DKILN_IN_ELEMS={g.in_elems} -DKILN_IN_WIDTH={g.in_width} "
               f"-DKILN_IN_SIGNED={int(g.in_signed)} -DKILN_OUT_ELEMS={g.out_elems} "
               f"-DKILN_OUT_WIDTH={g.out_width} -DKILN_OUT_SIGNED={int(g.out_signed)} "
               f"-DKILN_IN_BEATS={g.in_beats} -I{harness_dir}")
    verilate = [
        str(tool.executable), *VERILATOR_FLAGS, "--top-module", g.top, "-Mdir", "obj",
        "-CFLAGS", f"-fPIC {defines}", "-LDFLAGS", LINK_FLAGS, "-o", LIBRARY,
        str(harness_dir / CONFIG.name), *(str(s) for s in design.sources),
        str(harness_dir / HARNESS.name),
    ]
    make = ["make", "-j", str(jobs), "-C", "obj", "-f", "Vkiln_top.mk", *MAKE_FLAGS,
            *tool.make_overrides]
    start = time.monotonic()
    log.info("probe: building %s with Verilator (--vpi, stage streams public) ...",
             design.rtl_dir)
    env = tool.env()
    run_tool(verilate, cwd=tmp, env=env, what="Verilator (probe)")
    seeded = objcache.seed(tool, _RUNTIME_FLAVOR, tmp / "obj")
    run_tool(make, cwd=tmp, env=env, what="Verilator probe build")
    if not seeded:
        objcache.store(tool, _RUNTIME_FLAVOR, tmp / "obj")
    shutil.move(str(tmp / "obj" / LIBRARY), str(tmp / LIBRARY))
    shutil.rmtree(tmp / "obj")
    (tmp / "build.json").write_text(json.dumps({
        "key": key, "sha256": file_digest(tmp / LIBRARY), "rtl_dir": str(design.rtl_dir),
        "verilator": tool.version, "seconds": round(time.monotonic() - start, 2),
    }, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:  # another process finished the same build first
        if not (final / LIBRARY).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("probe: built in %.1f s -> %s", time.monotonic() - start, final / LIBRARY)
