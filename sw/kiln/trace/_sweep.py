"""Accuracy against bit width, one layer at a time: where bits matter.

For each layer and each width, the layer's output type is narrowed to that width (its
integer bits, signedness, rounding and overflow kept, fractional bits dropped) while every
other type stays as built, and kiln.fixed runs the whole graph on the data: the accuracy is
what the hardware would compute with that one type changed, with no retraining. A layer whose
accuracy holds down to few bits has bits to spare; one that falls at once does not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import KilnError, PrecisionError
from kiln.fixed import prepare
from kiln.ir import FixedType, Graph, Node


@dataclass(frozen=True)
class BitSweep:
    """Accuracy by layer and output width.

    Attributes:
        model: the model's name.
        baseline: the accuracy with every type as built.
        built: layer -> its output type's width as built.
        accuracy: layer -> width -> accuracy with that layer narrowed to that width.
    """

    model: str
    samples: int
    baseline: float
    built: dict[str, int]
    accuracy: dict[str, dict[int, float]]

    def bits_needed(self, layer: str, tolerance: float = 0.01) -> int:
        """The fewest bits of ``layer``'s output that keep accuracy within ``tolerance`` of the
        baseline, for every width from there up to the built one."""
        needed = self.built[layer]
        for width in sorted(self.accuracy[layer], reverse=True):
            if self.accuracy[layer][width] < self.baseline - tolerance:
                break
            needed = width
        return needed

    def table(self) -> str:
        lines = [f"{self.model}: accuracy with one layer's output narrowed ({self.samples} "
                 f"samples; as built {self.baseline:.4f})",
                 f"{'layer':<16} {'built':>6} {'needed':>7}  accuracy by width"]
        for layer, by_width in self.accuracy.items():
            cells = " ".join(f"{w}:{a:.3f}" for w, a in sorted(by_width.items()))
            lines.append(f"{layer:<16} {self.built[layer]:>6} {self.bits_needed(layer):>7}  "
                         f"{cells}")
        lines.append("needed: the fewest bits within 0.01 of the built accuracy")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def plot(self, path: str | Path) -> Path:
        """Accuracy against width, one line per layer, the built accuracy dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for layer, by_width in self.accuracy.items():
            widths = sorted(by_width)
            ax.plot(widths, [by_width[w] for w in widths], marker="o", ms=3, label=layer)
        ax.axhline(self.baseline, color="gray", ls="--", lw=1, label="as built")
        ax.set_xlabel("output width of the one narrowed layer (bits)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{self.model}: where bits matter ({self.samples} samples)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out


def narrowed(graph: Graph, layer: str, width: int) -> Graph:
    """``graph`` with ``layer``'s output type cut to ``width`` bits (fractional bits go)."""
    def cut(node: Node) -> Node:
        if node.name != layer:
            return node
        t = node.out_type
        return dataclasses.replace(node, out_type=FixedType(width, t.integer, t.signed,
                                                            t.rounding, t.overflow))

    return dataclasses.replace(graph, nodes=tuple(cut(n) for n in graph.nodes))


def _accuracy(graph: Graph, codes: torch.Tensor, labels: NDArray[Any]) -> float:
    out = prepare(graph, "cpu").run(codes)
    return float((out.argmax(dim=1).numpy() == labels).mean())


def bit_sweep(graph: Graph, codes: NDArray[Any], labels: Any, widths: Any = None,
              layers: Any = None) -> BitSweep:
    """Accuracy of ``graph`` on input ``codes`` (samples, input size) against ``labels`` with
    each of ``layers`` (default: every layer but the last, whose codes are the answer) narrowed
    to each of ``widths`` (default: 2 up to its built width), one layer at a time.

    Raises:
        KilnError: no samples, or labels of another length.
    """
    y = np.asarray(labels).reshape(-1)
    if not len(codes) or len(y) != len(codes):
        raise KilnError(f"bit_sweep needs samples with one label each: {len(codes)} samples, "
                        f"{len(y)} labels")
    x = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64).reshape(len(codes), -1))
    names = list(layers) if layers is not None else [n.name for n in graph.nodes[1:-1]]
    built = {name: graph.node(name).out_type.width for name in names}
    accuracy: dict[str, dict[int, float]] = {}
    for name in names:
        accuracy[name] = {}
        for width in (widths if widths is not None else range(2, built[name] + 1)):
            if width > built[name]:
                continue
            try:
                accuracy[name][int(width)] = _accuracy(narrowed(graph, name, int(width)), x, y)
            except PrecisionError:
                continue
    return BitSweep(graph.name, len(codes), _accuracy(graph, x, y), built, accuracy)
