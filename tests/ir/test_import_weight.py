"""The IR and the RTL emitter import without torch, TensorFlow or hls4ml."""

from __future__ import annotations

import subprocess
import sys


def test_ir_and_rtl_import_without_heavy_frameworks() -> None:
    code = (
        "import sys, kiln.ir, kiln.rtl\n"
        "heavy = sorted(m for m in ('torch', 'tensorflow', 'hls4ml') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
