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

from kiln.artifact import artifact_lock
from kiln.errors import ArtifactError, KilnError
from kiln.fixed import from_float, to_float
from kiln.hls._weights import rewrite_weight_headers
from kiln.ir import FixedType
from kiln.tools import Tool, require_tool, run_tool

log = logging.getLogger(__name__)
PROJECT = "kiln_model"
_NEEDS = "hls4ml's C simulation is built with it"


def write_and_compile(model_graph: Any) -> Path:
    """Write the HLS project (hls4ml writer) and build its C simulation library (g++).

    The weights are compiled into the library (hls4ml's ``WriteWeightsTxt`` off): with it on,
    the library reads them at run time from the absolute path of the folder it was built in,
    and exits the process when they are not there, so a moved artifact would need a rebuild.

    Raises:
        ToolMissingError: g++ is not installed.
        KilnError: hls4ml could not write the project, or the library still records the
            folder it was built in.
        ToolFailedError: the C simulation did not compile (the message has g++'s output).
    """
    gxx = require_tool("g++", needs=_NEEDS)
    log.info("hls4ml: writing the HLS project ...")
    model_graph.config.writer_config["WriteWeightsTxt"] = False
    try:
        model_graph.write()
    except Exception as exc:
        raise KilnError(f"hls4ml could not write the HLS project: {exc}") from exc
    hls_dir = Path(model_graph.config.get_output_dir())
    library = _build(hls_dir, gxx)
    if str(hls_dir.resolve()).encode() in library.read_bytes():
        raise KilnError(f"{library} records the folder it was built in ({hls_dir.resolve()}), "
                        "so it would break when the artifact moves; this hls4ml version "
                        "ignores WriteWeightsTxt=False. Use the hls4ml kiln pins.")
    return library


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
    """Re-run hls4ml's build script in ``hls_dir`` (e.g. after editing the project), holding
    the artifact's lock, so that parallel rebuilds of one project do not race.

    Raises:
        ToolMissingError: g++ is not installed.
        ArtifactError: another process held the lock too long, or the folder is read-only.
        ToolFailedError: the C simulation did not compile (the message has g++'s output).
    """
    gxx = require_tool("g++", needs=_NEEDS)
    with artifact_lock(hls_dir.resolve().parent, f"rebuild the C simulation in {hls_dir}"):
        if not os.access(hls_dir, os.W_OK):
            raise ArtifactError(f"Cannot rebuild the C simulation in {hls_dir}: the folder is "
                                "read-only. Make it writable or copy the artifact.")
        log.info("hls4ml: rebuilding the C simulation in %s", hls_dir)
        return _build(hls_dir, gxx)


def _build(hls_dir: Path, gxx: Tool) -> Path:
    """Run hls4ml's ``build_lib.sh``, which calls ``g++`` from PATH: the one kiln found
    (``$KILN_GXX`` included) goes first. The weight headers are rewritten first, so that
    large weight arrays do not take g++ hours (kiln.hls._weights)."""
    rewrite_weight_headers(hls_dir)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(gxx.path.parent), env.get("PATH", "")])
    run_tool(["bash", "build_lib.sh"], cwd=hls_dir, env=env,
             what="hls4ml C simulation build (g++)")
    return find_library(hls_dir)


class CSim:
    """The compiled hls4ml C simulation of one model, called sample by sample via ctypes."""

    def __init__(self, library: Path, in_type: FixedType, out_type: FixedType,
                 n_in: int, n_out: int) -> None:
        try:
            self._lib = ctypes.CDLL(str(library))
            self._fn = getattr(self._lib, f"{PROJECT}_double")
        except (OSError, AttributeError) as exc:
            raise ArtifactError(
                f"Cannot load the C simulation library {library} ({exc}): it is damaged or "
                "built for another machine. Recompile the artifact with `kiln compile "
                "--force`.") from exc
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
