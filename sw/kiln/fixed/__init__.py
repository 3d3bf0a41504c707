"""kiln's bit-exact integer reference (ap_fixed semantics) on torch: the living definition
every back end is checked against. ``FixedType`` itself lives in :mod:`kiln.ir`.

``execute`` runs a graph on the device its codes are on (CPU or CUDA); ``prepare`` gives
the graph placed on a device once (a :class:`Program`), and ``accel`` chooses CUDA graphs
or ``torch.compile`` on a GPU (``ACCELS``; ``$KILN_FIXED_ACCEL``)."""

from __future__ import annotations

from kiln.fixed._accel import ACCEL_ENV, ACCELS, Accel
from kiln.fixed._activations import lut_codes, softmax_codes
from kiln.fixed._executor import Program, execute, prepare
from kiln.fixed._quantize import from_float, overflow, requantize, to_float
from kiln.fixed._rectifiers import elu_step, leaky_relu_step
from kiln.fixed._tables import (
    elu_table,
    lut_table,
    sigmoid_table,
    softmax_exp_table,
    softmax_inv_table,
    softmax_stable_defaults,
    softmax_tables,
    tanh_table,
)

__all__ = [
    "ACCELS",
    "ACCEL_ENV",
    "Accel",
    "Program",
    "elu_step",
    "elu_table",
    "execute",
    "from_float",
    "leaky_relu_step",
    "lut_codes",
    "lut_table",
    "overflow",
    "prepare",
    "requantize",
    "sigmoid_table",
    "softmax_codes",
    "softmax_exp_table",
    "softmax_inv_table",
    "softmax_stable_defaults",
    "softmax_tables",
    "tanh_table",
    "to_float",
]
