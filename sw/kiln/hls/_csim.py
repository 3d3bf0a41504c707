"""hls4ml's HLS project and its C simulation (g++ only): kiln's HLS reference."""

from __future__ import annotations

import ctypes
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kiln.errors import ArtifactError, KilnError, ToolMissingError
from kiln.fixed import from_float, to_float
from kiln.ir import FixedType

log = logging.getLogger(__name__)
PROJECT = "kiln_model"


def require_gxx() -> str:
    path = shutil.which("g++")
    if path is None:
        raise ToolMissingError(
            "g++ is not on PATH; hls4ml's C simulation needs it. Install it with "
            "`apt-get install g++` (make setup does)."
        )
    return path


def write_and_compile(model_graph: Any) -> Path:
    """Write the HLS project (hls4ml writer) and build its C simulation library."""
    require_gxx()
    start = time.monotonic()
    log.info("hls4ml: writing and compiling the HLS C simulation (g++) ...")
    try:
        model_graph.compile()
    except Exception as exc:
        raise KilnError(f"hls4ml C simulation build failed: {exc}") from exc
    log.info("hls4ml: C simulation built in %.1f s", time.monotonic() - start)
    return find_library(Path(model_graph.config.get_output_dir()))


def find_library(hls_dir: Path) -> Path:
    libs = sorted((hls_dir / "firmware").glob(f"{PROJECT}-*.so"))
    if not libs:
        raise ArtifactError(f"No C simulation library in {hls_dir / 'firmware'}")
    return libs[-1]


def rebuild_library(hls_dir: Path) -> Path:
    """Re-run hls4ml's build script: needed when the artifact moved, because the library
    records the absolute path of its weight files."""
    require_gxx()
    log.info("hls4ml: rebuilding the C simulation in %s", hls_dir)
    result = subprocess.run(["bash", "build_lib.sh"], cwd=hls_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise KilnError(f"Rebuilding the C simulation failed:\n{result.stderr[-2000:]}")
    return find_library(hls_dir)


class CSim:
    """The compiled hls4ml C simulation of one model, called sample by sample via ctypes."""

    def __init__(self, library: Path, in_type: FixedType, out_type: FixedType,
                 n_in: int, n_out: int) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._fn = getattr(self._lib, f"{PROJECT}_double")
        self.in_type, self.out_type, self.n_in, self.n_out = in_type, out_type, n_in, n_out

    def run(self, codes: np.ndarray) -> np.ndarray:
        """Integer output codes for integer input codes (n, n_in)."""
        values = np.ascontiguousarray(
            to_float(torch.from_numpy(codes.reshape(len(codes), -1)), self.in_type).numpy()
        )
        out = np.zeros((len(codes), self.n_out), dtype=np.float64)
        ptr = ctypes.POINTER(ctypes.c_double)
        for i in range(len(codes)):
            self._fn(values[i].ctypes.data_as(ptr), out[i].ctypes.data_as(ptr))
        result = from_float(torch.from_numpy(out), self.out_type).numpy()
        if not np.array_equal(to_float(torch.from_numpy(result), self.out_type).numpy(), out):
            raise KilnError("C simulation returned values that are not codes of the output type")
        return result
