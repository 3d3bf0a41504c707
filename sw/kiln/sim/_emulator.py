"""The bulk RTL emulator: ``kiln_top`` Verilated into a shared library with a C-ABI harness
(``sim/harness/kiln_emu.cpp``) that streams whole arrays of samples through the design."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln._checkout import sim_source_dir
from kiln.artifact import OnOverflow, TopContract, TopSources, as_input_codes, file_digest
from kiln.errors import KilnError
from kiln.sim import _objcache as objcache
from kiln.tools import Verilator, find_verilator, run_tool

log = logging.getLogger(__name__)

LIBRARY = "libkiln_emu.so"
BUILD_INFO = "build.json"
HARNESS = Path("harness") / "kiln_emu.cpp"
# Verilator options that shape the library; they are part of the cache key.
VERILATOR_FLAGS = (
    "--cc", "--exe", "--prefix", "Vkiln_top", "-O3", "--x-assign", "fast", "--x-initial", "fast",
    "--noassert", "-Wno-fatal",
)
MAKE_FLAGS = ("OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O1")
LINK_FLAGS = "-shared -Wl,-Bsymbolic -Wl,-z,defs"
_RUNTIME_FLAVOR = f"emulator -fPIC {' '.join(MAKE_FLAGS)}"

_OK, _CYCLE_LIMIT, _IDLE_LIMIT = 0, 1, 2
_NO_LIMIT = 1 << 62
_I64P = ctypes.POINTER(ctypes.c_int64)


@dataclass(frozen=True)
class StallPattern:
    """Seeded random gaps on both stream sides, for runs that exercise backpressure.

    Attributes:
        in_gap: probability that ``s_axis_tvalid`` stays low in a cycle before the next beat
            is offered (an offered beat stays offered until it is accepted).
        out_gap: probability that ``m_axis_tready`` is low in a cycle.
        seed: seed of the harness's generator; the same seed gives the same pattern.
    """

    in_gap: float = 0.0
    out_gap: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("in_gap", "out_gap"):
            p = getattr(self, name)
            if not 0.0 <= p <= 0.99:
                raise ValueError(f"StallPattern.{name} must be in [0, 0.99], not {p!r}")
        if not 0 <= self.seed < 1 << 64:
            raise ValueError(f"StallPattern.seed must fit 64 unsigned bits, not {self.seed!r}")

    def idle_limit(self, latency: int) -> int:
        """Cycles without an output after which a run is declared stuck."""
        base = 10_000 + 100 * latency
        return int(base / ((1.0 - self.in_gap) * (1.0 - self.out_gap)))


FULL_RATE = StallPattern()


@dataclass(frozen=True)
class EmulatorResult:
    """Output codes (n, out_elems) int64, clock cycles from reset release to the last output
    beat, and the wall time the run took."""

    codes: NDArray[Any]
    cycles: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return len(self.codes) / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class StreamStep:
    """What one :meth:`EmulatorStream.step` did: input beats accepted, output codes collected,
    and whether it stopped on its cycle budget before doing all it was asked."""

    consumed: int
    codes: NDArray[Any]
    cycles: int
    stopped_early: bool


class _Library:
    """The C ABI of one built harness library."""

    def __init__(self, path: Path) -> None:
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise KilnError(f"Cannot load the emulator library {path} ({exc}): it is damaged "
                            f"or built elsewhere. Delete {path.parent} and run again to "
                            "rebuild it.") from exc
        lib.kiln_emu_geometry.argtypes = [_I64P]
        lib.kiln_emu_geometry.restype = None
        lib.kiln_emu_open.argtypes = [ctypes.c_uint64, ctypes.c_double, ctypes.c_double]
        lib.kiln_emu_open.restype = ctypes.c_void_p
        lib.kiln_emu_stream.argtypes = [ctypes.c_void_p, _I64P, ctypes.c_int64, _I64P,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                        _I64P, _I64P]
        lib.kiln_emu_stream.restype = ctypes.c_int
        lib.kiln_emu_cycles.argtypes = [ctypes.c_void_p]
        lib.kiln_emu_cycles.restype = ctypes.c_uint64
        lib.kiln_emu_reset.argtypes = [ctypes.c_void_p]
        lib.kiln_emu_reset.restype = None
        lib.kiln_emu_close.argtypes = [ctypes.c_void_p]
        lib.kiln_emu_close.restype = None
        self.lib = lib

    def geometry(self) -> tuple[int, ...]:
        out = np.zeros(6, dtype=np.int64)
        self.lib.kiln_emu_geometry(out.ctypes.data_as(_I64P))
        return tuple(int(v) for v in out)


class Emulator:
    """A Verilated ``kiln_top`` built once per RTL content, run on whole arrays of codes.

    Build it with :meth:`build`; run it with :meth:`run` (a fresh reset per call) or drive it
    beat by beat with :meth:`open`.
    """

    def __init__(self, library: Path, design: TopSources, key: str, cached: bool) -> None:
        self.library = library
        self.design = design
        self.key = key
        self.cached = cached
        self._lib = _Library(library)
        g = design.contract
        expected = (g.in_elems, g.in_width, int(g.in_signed),
                    g.out_elems, g.out_width, int(g.out_signed))
        if self._lib.geometry() != expected:
            raise KilnError(f"{library} was built for geometry {self._lib.geometry()}, but "
                            f"{design.rtl_dir / 'rtl.json'} says {expected}; delete the cache")

    @property
    def contract(self) -> TopContract:
        return self.design.contract

    @classmethod
    def build(cls, rtl_dir: str | Path, cache_dir: str | Path, *, jobs: int | None = None,
              verilator: Verilator | None = None) -> Emulator:
        """Verilate ``rtl_dir`` into ``cache_dir/emulator/<key>/libkiln_emu.so``, or reuse it.

        The key is the SHA-256 of every file in ``rtl_dir`` plus the harness source, the
        Verilator version and the build flags, so an unchanged design is never rebuilt; a
        cached library whose SHA-256 is not the one its build recorded is rebuilt (logged).

        Raises:
            ToolMissingError: Verilator, perl, make or g++ is not installed.
            ArtifactError: ``rtl_dir`` lacks its sources, ``files.f`` or ``rtl.json``.
            KilnError: the Verilator build failed (the message has the log's tail).
        """
        design = TopSources.load(rtl_dir)
        tool = verilator or find_verilator()
        harness = sim_source_dir() / HARNESS
        if not harness.is_file():
            raise KilnError(f"The emulator harness {harness} is missing; set $KILN_SIM_DIR to "
                            "the repository's sim/ folder")
        key = design.digest(harness.read_bytes(), tool.version, " ".join(VERILATOR_FLAGS),
                            " ".join(MAKE_FLAGS), LINK_FLAGS)
        root = Path(cache_dir).resolve() / "emulator"
        final = root / key[:16]
        info = final / BUILD_INFO
        built = json.loads(info.read_text()) if info.is_file() else {}
        if (final / LIBRARY).is_file() and built.get("key") == key:
            if built.get("sha256") == file_digest(final / LIBRARY):
                log.info("emulator: cache hit %s", final)
                return cls(final / LIBRARY, design, key, cached=True)
            log.warning("emulator: %s changed since it was built; rebuilding it", final / LIBRARY)
        _compile(design, tool, harness, key, final, jobs or os.cpu_count() or 1)
        return cls(final / LIBRARY, design, key, cached=False)

    def open(self, stall: StallPattern = FULL_RATE) -> EmulatorStream:
        """A fresh, reset instance of the design to push and pull beats through."""
        return EmulatorStream(self, stall)

    def run(self, codes: Any, stall: StallPattern = FULL_RATE,
            on_overflow: OnOverflow = "error") -> EmulatorResult:
        """Stream every sample of ``codes`` (n, in_elems) through a freshly reset design.

        With the default ``stall`` samples go back to back and ``m_axis_tready`` stays high,
        so ``cycles`` is about ``n * ii + latency``.

        Raises:
            InputShapeError: codes of the wrong shape, dtype or range.
            KilnError: the design stopped producing outputs (deadlock or dropped samples).
        """
        g = self.contract
        frames = as_input_codes(codes, g, on_overflow)
        n = len(frames)
        # A sample is in_beats input beats and out_beats output beats (io_stream frames).
        inputs = frames.reshape(n * g.in_beats, g.in_elems)
        out = np.zeros((n * g.out_beats, g.out_elems), dtype=np.int64)
        start = time.perf_counter()
        with self.open(stall) as stream:
            consumed, produced, status = stream._call(inputs, out, len(out), _NO_LIMIT)
            cycles = stream.cycles
        seconds = time.perf_counter() - start
        if status != _OK:
            raise KilnError(
                f"Emulator of {self.design.rtl_dir}: after {cycles} cycles the design had "
                f"accepted {consumed // g.in_beats} of {n} samples and produced "
                f"{produced // g.out_beats} outputs, then none "
                f"for {stall.idle_limit(self.contract.latency)} cycles. It deadlocks or drops "
                "samples; run kiln.sim.run_protocol_bench to see where."
            )
        log.debug("emulator: %d samples, %d cycles, %.3f s", n, cycles, seconds)
        return EmulatorResult(out.reshape(n, g.out_beats * g.out_elems), cycles, seconds)


class EmulatorStream:
    """One running instance of the design, for transports that push and pull beats.

    Use as a context manager, or call :meth:`close`.
    """

    _handle: int | None = None

    def __init__(self, emulator: Emulator, stall: StallPattern) -> None:
        self._emulator = emulator
        self._lib = emulator._lib.lib
        self._stall = stall
        self._handle: int | None = self._lib.kiln_emu_open(stall.seed, stall.in_gap,
                                                           stall.out_gap)

    def __enter__(self) -> EmulatorStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _live(self) -> int:
        if self._handle is None:
            raise KilnError("This EmulatorStream is closed")
        return self._handle

    @property
    def cycles(self) -> int:
        """Clock cycles since the last reset was released."""
        return int(self._lib.kiln_emu_cycles(self._live()))

    def reset(self) -> None:
        """Assert reset for a few cycles; the design forgets every sample in flight."""
        self._lib.kiln_emu_reset(self._live())

    def _call(self, inputs: NDArray[Any], out: NDArray[Any], max_out: int, max_cycles: int
              ) -> tuple[int, int, int]:
        consumed, produced = ctypes.c_int64(0), ctypes.c_int64(0)
        idle = self._stall.idle_limit(self._emulator.contract.latency)
        status = self._lib.kiln_emu_stream(
            self._live(), inputs.ctypes.data_as(_I64P), len(inputs), out.ctypes.data_as(_I64P),
            max_out, max_cycles, idle, ctypes.byref(consumed), ctypes.byref(produced))
        return consumed.value, produced.value, int(status)

    def step(self, codes: Any, max_out: int, max_cycles: int) -> StreamStep:
        """Offer ``codes`` (one row per beat) and collect up to ``max_out`` output beats, for
        at most ``max_cycles``.

        Beats not accepted (``consumed`` < len(codes)) must be offered again, first, on the
        next call: a beat on the bus stays there until the design takes it.

        Raises:
            KilnError: no output for the stall pattern's idle limit while outputs are owed.
        """
        beat = dataclasses.replace(self._emulator.contract, in_beats=1)
        inputs = as_input_codes(codes, beat) if len(codes) else \
            np.zeros((0, self._emulator.contract.in_elems), dtype=np.int64)
        out = np.zeros((max(max_out, 0), self._emulator.contract.out_elems), dtype=np.int64)
        before = self.cycles
        consumed, produced, status = self._call(inputs, out, max_out, max_cycles)
        if status == _IDLE_LIMIT:
            idle = self._stall.idle_limit(self._emulator.contract.latency)
            raise KilnError(f"Emulator stream: no output for {idle} cycles with "
                            f"{max_out - produced} outputs still owed ({consumed} of "
                            f"{len(inputs)} inputs accepted); the design deadlocks or drops "
                            "samples")
        return StreamStep(consumed, out[:produced], self.cycles - before,
                          stopped_early=status == _CYCLE_LIMIT)

    def close(self) -> None:
        if self._handle is not None:
            self._lib.kiln_emu_close(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()


def _compile(design: TopSources, tool: Verilator, harness: Path, key: str, final: Path,
             jobs: int) -> None:
    g = design.contract
    tmp = final.parent / f".build-{key[:16]}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    defines = (f"-DKILN_IN_ELEMS={g.in_elems} -DKILN_IN_WIDTH={g.in_width} "
               f"-DKILN_IN_SIGNED={int(g.in_signed)} -DKILN_OUT_ELEMS={g.out_elems} "
               f"-DKILN_OUT_WIDTH={g.out_width} -DKILN_OUT_SIGNED={int(g.out_signed)} "
               f"-DKILN_IN_BEATS={g.in_beats}")
    verilate = [
        str(tool.executable), *VERILATOR_FLAGS, "--top-module", g.top, "-Mdir", "obj",
        "-CFLAGS", f"-fPIC {defines}", "-LDFLAGS", LINK_FLAGS, "-o", LIBRARY,
        *(str(s) for s in design.sources), str(harness),
    ]
    make = ["make", "-j", str(jobs), "-C", "obj", "-f", "Vkiln_top.mk", *MAKE_FLAGS,
            *tool.make_overrides]
    start = time.monotonic()
    log.info("emulator: building %s with Verilator (%d sources, %d-bit in, %d-bit out) ...",
             design.rtl_dir, len(design.sources), g.in_bits, g.out_bits)
    env = tool.env()
    try:
        verilator_log = run_tool(verilate, cwd=tmp, env=env, what="Verilator")
        # after verilating: make rebuilds objects older than the generated makefile
        seeded = objcache.seed(tool, _RUNTIME_FLAVOR, tmp / "obj")
        make_log = run_tool(make, cwd=tmp, env=env, what="Verilator emulator build")
    except KilnError as exc:
        (tmp / "build.log").write_text(str(exc))
        log.error("emulator: build failed; log in %s", tmp / "build.log")
        raise
    (tmp / "build.log").write_text(verilator_log + make_log)
    seconds = time.monotonic() - start
    if not seeded:
        objcache.store(tool, _RUNTIME_FLAVOR, tmp / "obj")
    shutil.move(str(tmp / "obj" / LIBRARY), str(tmp / LIBRARY))
    shutil.rmtree(tmp / "obj")
    (tmp / BUILD_INFO).write_text(json.dumps({
        "key": key, "sha256": file_digest(tmp / LIBRARY), "rtl_dir": str(design.rtl_dir),
        "verilator": tool.version,
        "contract": g.to_dict(), "seconds": round(seconds, 2),
    }, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:  # another process finished the same build first
        if not (final / LIBRARY).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("emulator: built in %.1f s -> %s", seconds, final / LIBRARY)
