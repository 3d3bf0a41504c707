"""Front end: framework models to an hls4ml ModelGraph (bit-exact types), lowered once to
kiln IR.

Each framework is a :class:`Source` (:class:`KerasSource`, :class:`TorchSource`);
:func:`load_source` picks one for a model to compile and :func:`open_source` for the model an
artifact saved, by the framework its manifest records.
"""

from __future__ import annotations

from kiln.frontend._base import InputLayout, Reference, Source, float32_exact
from kiln.frontend._calibrate import Inferred, InferredType, infer_fixed_point
from kiln.frontend._keras import (
    DEFAULT_INPUT_PRECISION,
    KerasSource,
    convert,
    is_quantized,
    load_keras,
    reference_is_bit_exact,
)
from kiln.frontend._keras_check import SUPPORTED_KERAS_LAYERS, check_layers, layer_problems
from kiln.frontend._lower import fixed_type, foldable_layers, lower
from kiln.frontend._onnx import SUPPORTED_ONNX_OPS, run_onnx
from kiln.frontend._requantize import Requantized, ScaleChange, requantize_pow2
from kiln.frontend._source import load_source, open_source, source_type
from kiln.frontend._torch import (
    TorchSource,
    check_torch_layers,
    convert_torch,
    is_torch_model,
    load_torch,
    save_torch_source,
    torch_reference_is_bit_exact,
)
from kiln.frontend._torch_check import STREAM_TORCH_LAYERS, SUPPORTED_TORCH_LAYERS

__all__ = [
    "DEFAULT_INPUT_PRECISION",
    "SUPPORTED_KERAS_LAYERS",
    "SUPPORTED_ONNX_OPS",
    "STREAM_TORCH_LAYERS",
    "SUPPORTED_TORCH_LAYERS",
    "Inferred",
    "InferredType",
    "InputLayout",
    "KerasSource",
    "Reference",
    "Requantized",
    "ScaleChange",
    "Source",
    "TorchSource",
    "check_layers",
    "check_torch_layers",
    "convert",
    "convert_torch",
    "fixed_type",
    "float32_exact",
    "foldable_layers",
    "infer_fixed_point",
    "is_quantized",
    "is_torch_model",
    "layer_problems",
    "load_keras",
    "load_source",
    "load_torch",
    "lower",
    "open_source",
    "reference_is_bit_exact",
    "requantize_pow2",
    "run_onnx",
    "save_torch_source",
    "source_type",
    "torch_reference_is_bit_exact",
]
