"""Make a Brevitas/QONNX model with float (non-power-of-two) scales exact in hardware by
re-quantizing it: every quantizer's scale is rounded *up* to a power of two, so no value that
fitted before is clipped, at the cost of at most one bit of resolution per quantizer.

This is opt-in and reported, never silent: the result is a new QONNX model (the reference kiln
then proves the hardware equal to), together with each scale change and, given data, the
accuracy before and after. Zero points and run-time scales are left alone; kiln.compile still
refuses those with a PrecisionError.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln.errors import KilnError
from kiln.frontend._onnx import _fold, default_describe, fix_input_shape, quiet, run_onnx
from kiln.frontend._torch import _brevitas_describe, _export_onnx, load_torch


@dataclass(frozen=True)
class ScaleChange:
    """One quantizer moved onto a power-of-two scale."""

    quantizer: str
    old_scales: tuple[float, float]  # smallest and largest (per-channel scales differ)
    new_scale: float

    @property
    def bits_lost(self) -> float:
        """Resolution given up, in bits: log2(new scale / finest old scale)."""
        return math.log2(self.new_scale / self.old_scales[0])


@dataclass(frozen=True)
class Requantized:
    """The power-of-two model (an onnx ModelProto, for kiln.compile) and what it cost."""

    model: Any
    changes: tuple[ScaleChange, ...]
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    predictions_changed: float | None = None  # fraction of samples whose argmax moved

    def __str__(self) -> str:
        lines = [f"{len(self.changes)} quantizer scale(s) rounded up to a power of two:"]
        for c in self.changes:
            old = (f"{c.old_scales[0]:.6g}" if c.old_scales[0] == c.old_scales[1]
                   else f"{c.old_scales[0]:.6g}..{c.old_scales[1]:.6g}")
            lines.append(f"  {c.quantizer}: scale {old} -> 2^{int(math.log2(c.new_scale))} "
                         f"({c.bits_lost:.2f} bits of resolution lost)")
        if self.accuracy_before is not None:
            lines.append(f"accuracy {self.accuracy_before:.4f} -> {self.accuracy_after:.4f}; "
                         f"{self.predictions_changed:.2%} of predictions changed")
        return "\n".join(lines)


def _requantize_scales(wrapper: Any, describe: Any) -> tuple[ScaleChange, ...]:
    changes = []
    for node in wrapper.graph.node:
        if node.op_type != "Quant":
            continue
        scale = wrapper.get_initializer(node.input[1])
        if scale is None:
            continue  # computed at run time: kiln.compile refuses it, naming the quantizer
        scale = np.asarray(scale, dtype=np.float64)
        if np.any(scale <= 0):
            continue
        new = 2.0 ** math.ceil(math.log2(float(scale.max())))
        if np.all(scale == new):
            continue
        wrapper.set_initializer(node.input[1], np.full(scale.shape, new, dtype=np.float32))
        changes.append(ScaleChange(describe(node, True)[0], (float(scale.min()),
                                                             float(scale.max())), new))
    return tuple(changes)


def requantize_pow2(model: Any, input_shape: Any = None, x: Any = None, y: Any = None
                    ) -> Requantized:
    """Round every quantizer scale of a Brevitas module or QONNX model up to a power of two.

    Args:
        model: a Brevitas torch.nn.Module, a QONNX ModelProto or a path to a .onnx file.
        input_shape: the input shape without the batch (required for modules).
        x, y: optional test inputs (as the model takes them) and labels: the accuracy before
            and after is then measured with qonnx's executor and reported.

    Returns:
        :class:`Requantized`; compile ``.model`` with :func:`kiln.compile`.
    """
    source = load_torch(model, input_shape)
    if source.kind not in ("brevitas", "qonnx"):
        raise KilnError(
            f"{source.where} has no quantizers to re-quantize (a {source.kind} model); give it "
            "a fixed-point type with precision= instead"
        )
    from qonnx.core.modelwrapper import ModelWrapper

    exported = fix_input_shape(copy.deepcopy(_export_onnx(source)), source.input_shape,
                               source.where)
    describe = _brevitas_describe(source.model) if source.kind == "brevitas" else default_describe
    with quiet("qonnx"):
        wrapper = _fold(ModelWrapper(exported))
    original = copy.deepcopy(wrapper.model)
    changes = _requantize_scales(wrapper, describe)
    if x is None or y is None:
        return Requantized(wrapper.model, changes)
    labels = np.asarray(y).reshape(-1)
    before, after = (run_onnx(m, x).argmax(axis=1) for m in (original, wrapper.model))
    return Requantized(wrapper.model, changes, float((before == labels).mean()),
                       float((after == labels).mean()), float((before != after).mean()))
