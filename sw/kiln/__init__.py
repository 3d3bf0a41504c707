"""kiln: quantization-aware-trained networks to bit-exact, verified hardware.

``kiln.compile(model, dir)`` writes an artifact; ``kiln.load(dir)`` gives a Runtime whose
``predict(x, device=...)`` runs the model on the reference, HLS C simulation, the Verilated
RTL or kiln's integer model, and whose ``compare`` says whether they agree bit for bit.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kiln.artifact import Artifact  # noqa: E402
from kiln.artifact import compile_model as compile  # noqa: E402
from kiln.errors import KilnError  # noqa: E402
from kiln.runtime import Runtime, load  # noqa: E402

__all__ = ["Artifact", "KilnError", "Runtime", "__version__", "compile", "load"]
