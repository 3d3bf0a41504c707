"""What a bitstream build reports: utilisation per resource and Fmax per clock, from
nextpnr's ``--report`` JSON (or Vivado's numbers), written to
``DIR/reports/bitstream_<board>.json``; and the errors for a design that does not fit or
misses timing, each saying what to change."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import KilnError

__all__ = [
    "BitstreamReport",
    "ClockTiming",
    "FitError",
    "TimingError",
    "Utilisation",
    "fit_error_from_log",
    "over_capacity",
    "parse_nextpnr_report",
    "timing_error",
]

# Folding (reuse factor > 1) is refused by kiln compile today, so it is not offered here.
ADVICE = ("a narrower precision (`--precision`, or fewer bits in the QAT quantizers), fewer "
          "or smaller layers, more pruning, or a bigger part")
_UTIL_LINE = re.compile(r"^\s*(?:Info:\s*)?\s*([A-Za-z_][A-Za-z0-9_]*):\s+(\d+)\s*/\s*(\d+)\s+"
                        r"(\d+)%", re.MULTILINE)
_FIT_WORDS = re.compile(r"no BELs remaining|Unable to place cell|not enough|exceeds|too many|"
                        r"requires more .* than are available", re.IGNORECASE)


class FitError(KilnError):
    """The design needs more of a resource than the part has."""


class TimingError(KilnError):
    """The design does not reach the board's clock frequency."""


@dataclass(frozen=True)
class Utilisation:
    """Cells of one resource type used, and how many the part has (None: not reported)."""

    resource: str
    used: int
    available: int | None

    @property
    def percent(self) -> float | None:
        return 100.0 * self.used / self.available if self.available else None

    @property
    def fits(self) -> bool:
        return self.available is None or self.used <= self.available


@dataclass(frozen=True)
class ClockTiming:
    """One clock: the frequency place-and-route achieved against the constraint."""

    clock: str
    achieved_mhz: float
    constraint_mhz: float

    @property
    def met(self) -> bool:
        return self.achieved_mhz >= self.constraint_mhz


@dataclass(frozen=True)
class BitstreamReport:
    """The outcome of one bitstream build.

    Attributes:
        board, device, family: what it was built for.
        bitstream: the bitstream file (None when timing failed and it was not packed).
        utilisation: per resource type, sorted by name.
        clocks: per clock, achieved against constrained frequency.
        cached: the build directory already held this build; nothing ran.
        seconds: wall time per step.
        tools: tool versions.
        digest: the build plan's digest.
        extra_files: other outputs (e.g. the ``.hwh`` hardware handoff), by role.
    """

    board: str
    device: str
    family: str
    bitstream: Path | None
    utilisation: tuple[Utilisation, ...]
    clocks: tuple[ClockTiming, ...]
    cached: bool
    seconds: Mapping[str, float]
    tools: Mapping[str, str]
    digest: str
    extra_files: Mapping[str, Path] = field(default_factory=dict)

    @property
    def timing_met(self) -> bool:
        return all(c.met for c in self.clocks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board, "device": self.device, "family": self.family,
            "bitstream": str(self.bitstream) if self.bitstream else None,
            "timing_met": self.timing_met,
            "utilisation": {u.resource: {"used": u.used, "available": u.available,
                                         "percent": _round(u.percent)}
                            for u in self.utilisation},
            "clocks": {c.clock: {"achieved_mhz": round(c.achieved_mhz, 2),
                                 "constraint_mhz": round(c.constraint_mhz, 3), "met": c.met}
                       for c in self.clocks},
            "cached": self.cached, "seconds": dict(self.seconds), "tools": dict(self.tools),
            "digest": self.digest,
            "files": {k: str(v) for k, v in self.extra_files.items()},
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    def summary(self) -> str:
        """One line per used resource and per clock, for logs and the CLI."""
        lines = [f"{self.board} ({self.device}): {self.bitstream or 'no bitstream'}"]
        lines += [f"  {u.resource:<16} {u.used:>7} / {u.available or '?':<7} "
                  f"{'' if u.percent is None else f'{u.percent:5.1f}%'}"
                  for u in self.utilisation if u.used]
        lines += [f"  clock {c.clock}: {c.achieved_mhz:.1f} MHz achieved, "
                  f"{c.constraint_mhz:g} MHz needed ({'met' if c.met else 'FAILED'})"
                  for c in self.clocks]
        return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def parse_nextpnr_report(path: Path) -> tuple[tuple[Utilisation, ...], tuple[ClockTiming, ...]]:
    """Utilisation and clocks from nextpnr's ``--report`` JSON.

    Raises:
        KilnError: the report is missing or malformed.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KilnError(f"Cannot read nextpnr's report {path}: {exc}") from exc
    util = tuple(sorted((Utilisation(name, int(v["used"]), int(v["available"]))
                         for name, v in data.get("utilization", {}).items()),
                        key=lambda u: u.resource))
    clocks = tuple(sorted((ClockTiming(_clock_name(name), float(v["achieved"]),
                                       float(v["constraint"]))
                           for name, v in data.get("fmax", {}).items()),
                          key=lambda c: c.clock))
    return util, clocks


def _clock_name(net: str) -> str:
    """``$glbnet$clk`` (ECP5) and ``clk$SB_IO_IN_$glb_clk`` (iCE40) are the net ``clk``."""
    return net.removeprefix("$glbnet$").split("$")[0] or net


def over_capacity(line: str) -> bool:
    """True for a line of nextpnr's "Device utilisation" table with more cells than sites."""
    match = _UTIL_LINE.match(line)
    return match is not None and int(match.group(2)) > int(match.group(3))


def fit_error_from_log(output: str, board: str, device: str,
                       bigger: Iterable[str] = ()) -> FitError | None:
    """A FitError when nextpnr's output shows a resource over capacity, else None.

    nextpnr prints "Device utilisation:" with ``NAME: used/available pct%`` lines before it
    places anything, then fails when a cell type has no free sites.
    """
    over = [u for u in (Utilisation(m[1], int(m[2]), int(m[3]))
                        for m in _UTIL_LINE.finditer(output)) if not u.fits]
    if not over and not _FIT_WORDS.search(output):
        return None
    what = ", ".join(f"{u.resource} {u.used}/{u.available} ({u.percent or 0:.0f}%)"
                     for u in over)
    parts = list(bigger)
    alt = f" (e.g. --board {parts[0]})" if parts else ""
    return FitError(f"The design does not fit {device} on {board}"
                    f"{': it needs ' + what if what else ''}. To fit it, use {ADVICE}{alt}.")


def timing_error(report: BitstreamReport) -> TimingError:
    """The TimingError for a report whose clocks are not met."""
    failed = [c for c in report.clocks if not c.met]
    what = "; ".join(f"clock {c.clock} reaches {c.achieved_mhz:.1f} MHz, the board needs "
                     f"{c.constraint_mhz:g} MHz" for c in failed)
    return TimingError(
        f"Timing fails on {report.board} ({report.device}): {what}. The longest paths are "
        f"in the layers' adder trees: re-compile with a narrower precision or smaller "
        f"layers, or use a faster part or lower clock; pass allow_timing_fail=True "
        f"(`--allow-timing-fail`) to pack the bitstream anyway.")
