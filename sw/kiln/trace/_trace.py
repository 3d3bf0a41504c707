"""The per-layer trace: every layer's output codes at every level, and where levels part.

A :class:`Trace` holds, for each level (``reference``, ``fixed``, ``hls``, ``rtl``) that ran,
the integer codes of every layer it could observe, in the layer's output type, one row per
sample. The bit-exact levels (and the framework reference when its quantizers define every
type) must agree code for code; :meth:`Trace.first_divergence` names the first layer, in
graph order, where two of them do not. A float reference is compared in LSBs instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kiln.ir import FixedType

#: Every level, in the order the table shows them.
LEVELS = ("reference", "fixed", "hls", "rtl")
#: What runs at each level.
LEVEL_DOC = {
    "reference": "the framework model's layer outputs, quantized to each layer's type",
    "fixed": "kiln.fixed, the integer executor",
    "hls": "hls4ml's C simulation with its layer outputs saved (a traced copy of hls/)",
    "rtl": "the Verilated kiln_top, every layer's output stream probed",
}


@dataclass(frozen=True)
class Layer:
    """One traced layer: the IR node's name, kind, output type and shape."""

    name: str
    kind: str
    out_type: FixedType
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Divergence:
    """The first layer where two levels disagree.

    Attributes:
        layer: the layer's name.
        levels: the two levels that disagree there.
        sample: the index of the first sample where they do.
        max_lsb: the largest difference over every sample and element, in LSBs of the
            layer's output type.
        mismatched: how many samples differ.
        samples: how many samples were traced.
        suspect: the level that disagrees with every other level there while those agree
            with each other (the likely culprit), or None.
    """

    layer: str
    levels: tuple[str, str]
    sample: int
    max_lsb: float
    mismatched: int
    samples: int
    suspect: str | None = None

    def __str__(self) -> str:
        a, b = self.levels
        text = (f"layer {self.layer!r}: {a} != {b} on {self.mismatched}/{self.samples} samples "
                f"(first: sample {self.sample}; max {self.max_lsb:g} LSB)")
        if self.suspect:
            text += f"; {self.suspect} disagrees with every other level"
        return text


def _max_lsb(a: NDArray[Any], b: NDArray[Any]) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0))


@dataclass(frozen=True)
class Trace:
    """Per-layer codes at every level that ran. Make it with :meth:`kiln.Runtime.trace`.

    Attributes:
        model: the model's name.
        layers: every layer after the input, in graph order.
        codes: level -> layer name -> codes (samples, layer size), int64, in the layer's
            flattened channels-last order.
        reference_values: the framework model's float outputs by layer (samples, size), for
            the LSB distances of a float reference; empty when the reference did not run.
        reference_exact: whether the reference's types are the hardware's (then it must
            agree code for code, else it is compared in LSBs).
        skipped: level -> why it did not run (or which layers it could not observe).
        samples: how many samples were traced.
    """

    model: str
    layers: tuple[Layer, ...]
    codes: dict[str, dict[str, NDArray[Any]]]
    samples: int
    reference_values: dict[str, NDArray[Any]] = field(default_factory=dict)
    reference_exact: bool = True
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels that ran, in :data:`LEVELS` order."""
        return tuple(level for level in LEVELS if level in self.codes)

    @property
    def exact_levels(self) -> tuple[str, ...]:
        """The levels that must agree code for code."""
        return tuple(level for level in self.levels
                     if level != "reference" or self.reference_exact)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"No layer {name!r} in the trace of {self.model!r}; layers: "
                       f"{', '.join(la.name for la in self.layers)}")

    def __getitem__(self, key: tuple[str, str]) -> NDArray[Any]:
        """``trace[level, layer]``: that layer's codes at that level."""
        level, name = key
        return self.codes[level][name]

    def values(self, level: str, name: str) -> NDArray[Any]:
        """A layer's outputs at a level as exact floats (the reference's own floats)."""
        if level == "reference" and name in self.reference_values:
            return self.reference_values[name]
        return self.codes[level][name] * self.layer(name).out_type.lsb

    def reference_lsb(self, name: str, level: str = "fixed") -> float | None:
        """The largest distance, in LSBs of the layer's type, between the framework model's
        float output of layer ``name`` and ``level``'s codes; None where either is missing."""
        if name not in self.reference_values or name not in self.codes.get(level, {}):
            return None
        lsb = self.layer(name).out_type.lsb
        return _max_lsb(self.reference_values[name] / lsb, self.codes[level][name])

    def reference_drift(self, threshold_lsb: float = 1.0, level: str = "fixed"
                        ) -> tuple[str, float] | None:
        """The first layer, in graph order, where the framework model's float output is more
        than ``threshold_lsb`` LSBs from ``level``'s codes, with that distance: where a float
        model's types first lose what it computes. None when every layer stays within it."""
        for layer in self.layers:
            distance = self.reference_lsb(layer.name, level)
            if distance is not None and distance > threshold_lsb:
                return layer.name, distance
        return None

    def divergence(self, name: str) -> Divergence | None:
        """How the exact levels disagree at layer ``name``, or None where they all agree."""
        seen = [lv for lv in self.exact_levels if name in self.codes[lv]]
        for a, b in combinations(seen, 2):
            x, y = self.codes[a][name], self.codes[b][name]
            rows = np.any(x != y, axis=1)
            if not rows.any():
                continue
            return Divergence(name, (a, b), int(np.argmax(rows)), _max_lsb(x, y),
                              int(rows.sum()), self.samples, self._suspect(name, seen))
        return None

    def _suspect(self, name: str, seen: list[str]) -> str | None:
        """The one level that differs from all the others, which agree among themselves."""
        if len(seen) < 3:
            return None
        for odd in seen:
            rest = [lv for lv in seen if lv != odd]
            rest_agree = all(np.array_equal(self.codes[rest[0]][name], self.codes[lv][name])
                             for lv in rest[1:])
            if rest_agree and not np.array_equal(self.codes[odd][name],
                                                 self.codes[rest[0]][name]):
                return odd
        return None

    def first_divergence(self) -> Divergence | None:
        """The first layer, in graph order, where two exact levels disagree on any sample;
        None when every level agrees on every layer it observed."""
        for layer in self.layers:
            found = self.divergence(layer.name)
            if found is not None:
                return found
        return None

    def table(self) -> str:
        """One row per layer: type, the levels that observed it, whether they agree, and
        the float reference's distance in LSBs."""
        levels = self.levels
        w = max([16, *(len(la.name) for la in self.layers)])
        head = (f"{'layer':<{w}} {'kind':<8} {'type':<26} {'levels':<24} {'agree':<30}"
                + (f" {'ref LSB':>8}" if self.reference_values else ""))
        lines = [f"{self.model}: {self.samples} samples; levels: {', '.join(levels) or 'none'}",
                 head]
        for layer in self.layers:
            seen = [lv for lv in levels if layer.name in self.codes[lv]]
            found = self.divergence(layer.name)
            if found is not None:
                verdict = (f"NO: {'!='.join(found.levels)} "
                           f"({found.mismatched}/{found.samples}, {found.max_lsb:g} LSB)")
            else:
                verdict = "yes" if len([lv for lv in seen if lv in self.exact_levels]) > 1 \
                    else "-"
            row = (f"{layer.name:<{w}} {layer.kind:<8} {str(layer.out_type):<26} "
                   f"{','.join(seen) or '-':<24} {verdict:<30}")
            if self.reference_values:
                ref = self.reference_lsb(layer.name)
                row += f" {'-' if ref is None else format(ref, '.2f'):>8}"
            lines.append(row.rstrip())
        first = self.first_divergence()
        lines.append("first divergence: " + ("none, every level agrees" if first is None
                                             else str(first)))
        if self.reference_values and not self.reference_exact:
            drift = self.reference_drift()
            lines.append("reference: a float model, compared in LSBs (ref LSB), not for equality"
                         + ("" if drift is None else
                            f"; first more than 1 LSB away at {drift[0]!r} ({drift[1]:.2f} LSB)"))
        lines.extend(f"{level}: {why}" for level, why in self.skipped.items())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (agreement per layer; not the codes themselves)."""
        first = self.first_divergence()
        return {
            "model": self.model, "samples": self.samples, "levels": list(self.levels),
            "reference_exact": self.reference_exact, "skipped": dict(self.skipped),
            "reference_drift": self.reference_drift(),
            "first_divergence": None if first is None else {
                "layer": first.layer, "levels": list(first.levels), "sample": first.sample,
                "max_lsb": first.max_lsb, "mismatched": first.mismatched,
                "suspect": first.suspect},
            "layers": [{
                "name": la.name, "kind": la.kind, "type": str(la.out_type),
                "levels": [lv for lv in self.levels if la.name in self.codes[lv]],
                "agree": self.divergence(la.name) is None,
                "reference_lsb": self.reference_lsb(la.name),
            } for la in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
