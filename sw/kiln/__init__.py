"""kiln: quantization-aware-trained networks to bit-exact, verified hardware.

``kiln.compile(model, dir)`` writes an artifact; ``kiln.load(dir)`` gives a Runtime whose
``predict(x, device=...)`` runs the model on the reference, HLS C simulation, the Verilated
RTL or kiln's integer model, and whose ``compare`` says whether they agree bit for bit.
"""

from __future__ import annotations

import importlib
from typing import Any

from kiln.errors import KilnError

__version__ = "0.1.0"

__all__ = ["Artifact", "KilnError", "Runtime", "__version__", "compile", "explore", "load"]

# The top-level API pulls in the front ends (TensorFlow, torch, hls4ml): load it on first
# use, so that importing a stage package (kiln.ir, kiln.rtl, kiln.sim) stays light.
_API = {
    "Artifact": ("kiln.artifact", "Artifact"),
    "compile": ("kiln.compiler", "compile_model"),
    "explore": ("kiln.study", "explore"),
    "Runtime": ("kiln.runtime", "Runtime"),
    "load": ("kiln.runtime", "load"),
}


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'kiln' has no attribute {name!r}")
    module, attr = _API[name]
    return getattr(importlib.import_module(module), attr)
