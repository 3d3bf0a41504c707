"""What every benchmark family shares: where results go, timing, the machine they ran on,
result files, and a cache of long tool runs (synthesis, place and route) keyed by the build
plan's digest, which hashes the RTL, so re-runs only redo what changed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "bench"
CACHE = BUILD / "cache"
log = logging.getLogger("bench")
T = TypeVar("T")


@dataclass(frozen=True)
class Output:
    """Where one run writes its result files, its plots and the rendered page."""

    results: Path
    images: Path
    page: Path
    command: str


FULL = Output(REPO / "bench" / "results", REPO / "docs" / "img", REPO / "docs" / "benchmarks.md",
              "make bench")
QUICK = Output(BUILD / "quick" / "results", BUILD / "quick" / "img",
               BUILD / "quick" / "benchmarks.md", "make bench-quick")


@dataclass(frozen=True)
class Settings:
    """How a run measures: ``quick`` (smoke run) and the seconds of new tool runs
    (synthesis, place and route) a family may start, None for its default."""

    quick: bool = False
    tool_budget_s: float | None = None

    def budget(self, default: float) -> float:
        return default if self.tool_budget_s is None else self.tool_budget_s


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The shortest wall time of ``repeats`` calls of ``fn`` and the last call's result."""
    best, result = float("inf"), None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result  # type: ignore[return-value]


def error_text(exc: Exception) -> str:
    """The exception's type and the first line of its message, shortened for a table."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}"


def error_row(exc: Exception, **fields: Any) -> dict[str, Any]:
    """A result row for a measurement that could not run, saying why."""
    return {**fields, "error": error_text(exc)}


def _cache_path(kind: str, key: tuple[str, ...]) -> Path:
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:32]
    return CACHE / f"{kind}-{digest}.json"


def lookup(kind: str, key: tuple[str, ...]) -> dict[str, Any] | None:
    """The cached result for ``kind`` and ``key``, or None."""
    path = _cache_path(kind, key)
    return json.loads(path.read_text()) if path.is_file() else None


def cached(kind: str, key: tuple[str, ...], compute: Callable[[], dict[str, Any]]
           ) -> tuple[dict[str, Any], bool]:
    """``compute()``'s result, stored in ``build/bench/cache`` under ``kind`` and a hash of
    ``key``; True when it was already there."""
    found = lookup(kind, key)
    if found is not None:
        return found, True
    path = _cache_path(kind, key)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    return value, False


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import version

    import kiln

    out = {"kiln": kiln.__version__}
    for package in ("hls4ml", "tensorflow-cpu", "qkeras", "torch", "brevitas"):
        try:
            out[package] = version(package)
        except Exception:  # not installed
            out[package] = "absent"
    try:
        from kiln.tools import find_verilator

        out["verilator"] = find_verilator().version
    except Exception as exc:  # recorded, not fatal: the families say what they could not run
        out["verilator"] = f"absent ({type(exc).__name__})"
    from kiln.tools import require_tool

    for tool in ("yosys", "nextpnr-ecp5"):
        try:
            out[tool] = require_tool(tool).version
        except Exception as exc:
            out[tool] = f"absent ({type(exc).__name__})"
    return out


def machine() -> dict[str, Any]:
    """The machine a run is on: CPU, cores, memory, OS, load, GPU and tool versions."""
    import torch

    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "os": platform.platform(), "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "tools": _tool_versions(),
    }


def write_result(out: Output, family: str, rows: list[dict[str, Any]], started: float,
                 quick: bool, invocation: str, **extra: Any) -> Path:
    """Write ``<results>/<family>.json``: the rows plus when, how long, how (the exact
    ``invocation``) and where."""
    payload = {
        "family": family, "command": invocation, "quick": quick,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - started, 1), "machine": machine(),
        **extra, "rows": rows,
    }
    out.results.mkdir(parents=True, exist_ok=True)
    path = out.results / f"{family}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    log.info("%s: wrote %s (%.0f s)", family, path, payload["seconds"])
    return path


def read_results(results: Path) -> dict[str, dict[str, Any]]:
    """Every family's result file in ``results``, by family name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}
