"""hls4ml's HLS project and its C simulation (g++ only): kiln's HLS reference."""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.errors import ArtifactError, KilnError
from kiln.fixed import from_float, to_float
from kiln.ir import FixedType
from kiln.tools import Tool, require_tool, run_tool

log = logging.getLogger(__name__)
PROJECT = "kiln_model"
_NEEDS = "hls4ml's C simulation is built with it"


def write_and_compile(model_graph: Any) -> Path:
    """Write the HLS project (hls4ml writer) and build its C simulation library (g++).

    Raises:
        ToolMissingError: g++ is not installed.
        KilnError: hls4ml could not write the project.
        ToolFailedError: the C simulation did not compile (the message has g++'s output).
    """
    gxx = require_tool("g++", needs=_NEEDS)
    log.info("hls4ml: writing the HLS project ...")
    try:
        model_graph.write()
    except Exception as exc:
        raise KilnError(f"hls4ml could not write the HLS project: {exc}") from exc
    return _build(Path(model_graph.config.get_output_dir()), gxx)


def find_library(hls_dir: Path) -> Path:
    """The C simulation library in ``hls_dir/firmware`` (the last by name).

    Raises:
        ArtifactError: there is none.
    """
    libs = sorted((hls_dir / "firmware").glob(f"{PROJECT}-*.so"))
    if not libs:
        raise ArtifactError(f"No C simulation library in {hls_dir / 'firmware'}")
    return libs[-1]


def rebuild_library(hls_dir: Path) -> Path:
    """Re-run hls4ml's build script: needed when the artifact moved, because the library
    records the absolute path of its weight files.

    Raises:
        ToolMissingError: g++ is not installed.
        ToolFailedError: the C simulation did not compile (the message has g++'s output).
    """
    gxx = require_tool("g++", needs=_NEEDS)
    log.info("hls4ml: rebuilding the C simulation in %s", hls_dir)
    return _build(hls_dir, gxx)


def _build(hls_dir: Path, gxx: Tool) -> Path:
    """Run hls4ml's ``build_lib.sh``, which calls ``g++`` from PATH: the one kiln found
    (``$KILN_GXX`` included) goes first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(gxx.path.parent), env.get("PATH", "")])
    run_tool(["bash", "build_lib.sh"], cwd=hls_dir, env=env,
             what="hls4ml C simulation build (g++)")
    return find_library(hls_dir)


class CSim:
    """The compiled hls4ml C simulation of one model, called sample by sample via ctypes."""

    def __init__(self, library: Path, in_type: FixedType, out_type: FixedType,
                 n_in: int, n_out: int) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._fn = getattr(self._lib, f"{PROJECT}_double")
        self.in_type, self.out_type, self.n_in, self.n_out = in_type, out_type, n_in, n_out

    def run(self, codes: NDArray[Any]) -> NDArray[Any]:
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
