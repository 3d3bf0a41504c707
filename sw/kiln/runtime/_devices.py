"""The devices a Runtime can run on. Each maps input codes to output codes (or, for the
framework reference, float outputs) and says why it is unavailable when it is."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.artifact import Artifact
from kiln.errors import ArtifactError, DeviceError

if TYPE_CHECKING:
    from kiln.frontend import Reference
    from kiln.runtime._fpga import Transport
    from kiln.runtime._fpga_boards import TransportSpec

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Output codes (or floats for the reference), wall time, and cycles where known."""

    outputs: NDArray[Any]
    seconds: float
    cycles: int | None = None
    exact_codes: bool = True


class Device:
    """A place the model runs: subclasses implement ``_run`` and may refuse in ``check``."""

    name = "device"
    batch_size = 4096  # samples per call into the device; predict splits larger inputs
    exact_codes = True  # outputs are codes of the output type (False: the framework's floats)

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact

    def check(self) -> None:
        """Raise DeviceError saying what is missing if this device cannot run."""

    def run(self, codes: NDArray[Any]) -> RunResult:
        """Run every sample, in batches of ``batch_size``; cycles add up where known. No
        samples give no outputs (the device is checked, not started)."""
        self.check()
        start = time.perf_counter()
        if not len(codes):
            empty = np.zeros((0, self.artifact.graph.output.size),
                             dtype=np.int64 if self.exact_codes else np.float64)
            return RunResult(empty, 0.0, exact_codes=self.exact_codes)
        parts = [self._run(codes[i:i + self.batch_size])
                 for i in range(0, len(codes), self.batch_size)]
        cycles = [p.cycles for p in parts]
        return RunResult(
            np.concatenate([p.outputs for p in parts]), time.perf_counter() - start,
            cycles=None if None in cycles else sum(c for c in cycles if c is not None),
            exact_codes=self.exact_codes,
        )

    def _run(self, codes: NDArray[Any]) -> RunResult:
        raise NotImplementedError


class ReferenceDevice(Device):
    """The framework model the artifact saved in model/ (QKeras/Keras, or a PyTorch/Brevitas
    model's (Q)ONNX form), read by the front end of the manifest's framework; returns float
    outputs."""

    name = "reference"
    exact_codes = False
    _model: Reference | None = None

    def _load(self) -> Reference:
        from kiln.frontend import open_source

        source = open_source(self.artifact.path / "model", self.artifact.manifest.framework)
        return source.reference()

    def _run(self, codes: NDArray[Any]) -> RunResult:
        from kiln.fixed import to_float

        if self._model is None:
            self._model = self._load()
        x = to_float(torch.from_numpy(codes), self.artifact.graph.input.out_type).numpy()
        x = x.reshape((len(codes), *self.artifact.graph.input.shape))
        y = self._model(x.astype(np.float32))
        return RunResult(np.asarray(y, dtype=np.float64).reshape(len(codes), -1), 0.0,
                         exact_codes=False)


class HlsDevice(Device):
    """hls4ml's C simulation of the artifact's HLS project: the library compile built (its
    weights compiled in, so it runs wherever the artifact is), checked by the manifest."""

    name = "hls"
    _csim: Any = None

    def _run(self, codes: NDArray[Any]) -> RunResult:
        from kiln import hls

        if self._csim is None:
            g = self.artifact.graph
            self._csim = hls.CSim(hls.find_library(self.artifact.path / "hls"),
                                  g.input.out_type, g.output.out_type, g.input.size,
                                  g.output.size)
        return RunResult(self._csim.run(codes), 0.0)


class FpgaSimDevice(Device):
    """The Verilated RTL (kiln.sim's bulk emulator); reports clock cycles."""

    name = "fpga-sim"
    batch_size = 1 << 20
    _emulator: Any = None

    def _run(self, codes: NDArray[Any]) -> RunResult:
        from kiln.sim import Emulator

        if self._emulator is None:
            sim = self.artifact.path / "sim"
            try:
                self._emulator = Emulator.build(self.artifact.path / "rtl", sim)
            except PermissionError as exc:
                raise ArtifactError(
                    f"device='fpga-sim' builds the Verilated design into {sim}, but it may not "
                    f"write there ({exc.strerror}: {exc.filename}). Make the artifact "
                    f"writable (chmod -R u+w {self.artifact.path}) or copy it somewhere "
                    "writable.") from exc
        result = self._emulator.run(codes.reshape(len(codes), -1))
        return RunResult(np.asarray(result.codes), 0.0, cycles=int(result.cycles))


class TorchDevice(Device):
    """kiln.fixed, the integer executor, on torch (CPU here; CUDA when present)."""

    name = "cpu"
    torch_device = "cpu"

    def check(self) -> None:
        if self.torch_device == "cuda" and not torch.cuda.is_available():
            raise DeviceError(
                "device='cuda' needs a CUDA GPU and a CUDA build of torch; none is present "
                "here (torch.cuda.is_available() is False). Use device='cpu'."
            )

    def _run(self, codes: NDArray[Any]) -> RunResult:
        from kiln.fixed import execute

        x = torch.from_numpy(codes).to(self.torch_device)
        out = execute(self.artifact.graph, x)["output"].cpu().numpy()
        return RunResult(out, 0.0)


class CudaDevice(TorchDevice):
    name = "cuda"
    torch_device = "cuda"
    # A GPU is only busy with large batches; predict still slices inputs by memory.
    batch_size = 1 << 20


class FpgaDevice(Device):
    """A board through a transport: PYNQ's AXI DMA, a serial link to the UART bridge, or the
    simulated board (the Verilated design). Which one: :meth:`attach`, else ``$KILN_FPGA``,
    else PYNQ when this runs on a PYNQ board (kiln.runtime._fpga_attach)."""

    name = "fpga"
    batch_size = 1 << 20  # the driver splits into batches the transport takes
    _spec: TransportSpec | None = None   # from attach(); else found at run time
    _given: Transport | None = None      # a Transport object passed to attach()
    _opened: Transport | None = None     # the Transport this device opened from a spec
    timeout_s: float | None = None

    def attach(self, transport: str | Transport, timeout_s: float | None = None) -> None:
        """Use ``transport``: a spec (``"serial:/dev/ttyUSB0"``, ``"pynq"``, ``"sim"``) or a
        Transport object, with reads that wait ``timeout_s`` at most (default 2 s).

        Raises:
            DeviceError: a malformed spec, or a timeout that is not a positive, finite number.
        """
        from kiln.runtime._fpga_attach import parse_spec

        if timeout_s is not None and not (isinstance(timeout_s, int | float)
                                          and 0 < timeout_s < math.inf):
            raise DeviceError(f"attach(timeout_s={timeout_s!r}): give a positive number of "
                              "seconds (reads must end), or None for the default 2 s")
        self.close()
        self._given = None if isinstance(transport, str) else transport
        self._spec = parse_spec(transport, "attach()") if isinstance(transport, str) else None
        self.timeout_s = timeout_s

    def check(self) -> None:
        from kiln.runtime._fpga_attach import check, choose

        if self._given is None and self._opened is None:
            check(choose(self._spec, self.artifact.path), self.artifact.path)

    def _run(self, codes: NDArray[Any]) -> RunResult:
        from kiln.runtime._fpga import DEFAULT_TIMEOUT_S, Driver
        from kiln.runtime._fpga_attach import choose, open_transport

        transport = self._given or self._opened
        if transport is None:
            spec = choose(self._spec, self.artifact.path)
            transport = self._opened = open_transport(spec, self.artifact.path)
            log.info("fpga: %s (from %s)", transport.name, spec.source)
        driver = Driver(transport, DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s)
        try:
            out = driver.run(codes.reshape(len(codes), -1))
        except BaseException:
            self.close()  # a link this device opened is opened afresh by the next run
            raise
        return RunResult(out, 0.0)

    def close(self) -> None:
        """Close the link this device opened (a Transport given to attach() stays open; the
        driver resets it after an error)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None


DEVICES: dict[str, type[Device]] = {
    cls.name: cls for cls in (ReferenceDevice, HlsDevice, FpgaSimDevice, TorchDevice,
                              CudaDevice, FpgaDevice)
}
AUTO_ORDER = ("fpga", "cuda", "cpu")


def device_class(name: str) -> type[Device]:
    if name not in DEVICES:
        raise DeviceError(
            f"Unknown device {name!r}; choose one of: auto, {', '.join(DEVICES)}"
        )
    return DEVICES[name]

