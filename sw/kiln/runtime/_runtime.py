"""Runtime: one API to run a compiled model on any device and compare devices."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from kiln.artifact import Artifact
from kiln.errors import DeviceError, InputShapeError, KilnError
from kiln.fixed import from_float, to_float
from kiln.runtime._devices import AUTO_ORDER, Device, RunResult, device_class
from kiln.runtime._report import ComparisonReport, DeviceResult
from kiln.runtime._serve import Server
from kiln.runtime._shard import predict_sharded, use_ray

if TYPE_CHECKING:
    from kiln.trace import BitSweep, Trace

log = logging.getLogger(__name__)
#: The most input codes (bytes, int64) predict quantizes and runs at once.
STREAM_BYTES = 1 << 26
DEFAULT_COMPARE = ("reference", "hls", "fpga-sim", "cpu")
#: The trace level that observes each device's layers (kiln.trace); a board has none.
TRACE_LEVEL = {"reference": "reference", "cpu": "fixed", "cuda": "fixed", "hls": "hls",
               "fpga-sim": "rtl"}
#: How many differing samples compare traces to name the first layer that differs.
TRACE_SAMPLES = 8


class Runtime:
    """Runs one artifact. Create it with :func:`kiln.load`."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.graph = artifact.graph
        self._devices: dict[str, Device] = {}

    def device(self, name: str) -> Device:
        if name not in self._devices:
            self._devices[name] = device_class(name)(self.artifact)
        return self._devices[name]

    def resolve(self, name: str) -> str:
        """The device ``name`` stands for: ``auto`` picks fpga, then cuda, then cpu."""
        if name != "auto":
            device_class(name)
            return name
        for candidate in AUTO_ORDER:
            try:
                self.device(candidate).check()
            except DeviceError as exc:
                log.info("auto: skipping %s (%s)", candidate, exc)
                continue
            log.info("auto: running on %s", candidate)
            return candidate
        raise DeviceError("No device is available")  # cpu always is; unreachable in practice

    def _samples(self, x: Any) -> NDArray[Any]:
        """``x`` as ``(n, *input_shape)`` in the hardware's (channels-last) layout: a view where
        it can be, never quantized.

        Raises:
            InputShapeError: ragged, non-numeric, or of the wrong shape.
        """
        try:
            array = np.asarray(x)
        except ValueError as exc:   # a ragged list
            raise InputShapeError(f"Inputs are ragged ({exc}); give an array of shape "
                                  f"(n, {', '.join(map(str, self.graph.input.shape))})") from exc
        shape = tuple(self.graph.input.shape)
        if array.dtype.kind not in "fiub":
            raise InputShapeError(f"Inputs must be numbers, not dtype {array.dtype}")
        framework_shape = shape
        if self.artifact.manifest.input_layout == "channels_first":
            framework_shape = (shape[-1], *shape[:-1])
        if array.shape in (shape, framework_shape):
            array = array[None]
        if array.shape[1:] == framework_shape and framework_shape is not shape:
            # PyTorch's (n, C, ...) to the hardware's (n, ..., C); where both layouts have the
            # same shape, the framework's layout is the one meant
            array = np.moveaxis(array, 1, -1)
        if array.ndim < 1 or array.shape[1:] != shape:
            raise InputShapeError(
                f"Inputs have shape {array.shape}; model {self.graph.name!r} takes "
                f"(n, {', '.join(map(str, framework_shape))}) or one sample of shape "
                f"{framework_shape}"
                + (f" (channels-last {shape} is accepted too)" if framework_shape != shape else "")
            )
        return array

    def _quantize(self, samples: NDArray[Any], first: int = 0) -> NDArray[Any]:
        """Input codes of ``samples`` (from :meth:`_samples`; ``first`` numbers them in
        messages)."""
        flat = np.ascontiguousarray(samples, dtype=np.float64)
        values = torch.from_numpy(flat).reshape(len(samples), self.graph.input.size)
        if torch.isnan(values).any():
            where = tuple(int(i) for i in torch.nonzero(torch.isnan(values))[0])
            raise InputShapeError(
                f"Input contains NaN (first at sample {first + where[0]}, element {where[1]}); "
                "NaN has no fixed-point code. Clean the data first."
            )
        return from_float(values, self.graph.input.out_type).numpy()

    def input_codes(self, x: Any) -> NDArray[Any]:
        """Check ``x`` against the model input and quantize it to the input type.

        Raises:
            InputShapeError: ragged, non-numeric, of the wrong shape, or with a NaN.
        """
        return self._quantize(self._samples(x))

    def _stream(self, x: Any, device: str, finish: Callable[[RunResult], NDArray[Any]],
                offset: int = 0) -> tuple[str, RunResult]:
        """Run ``x`` on ``device`` a slice at a time (the device's batch, at most
        :data:`STREAM_BYTES` of codes), quantizing and finishing each slice on its own, so
        memory holds the input, the result and one slice's work at most. Messages number
        samples from ``offset`` (a shard's start in the whole input)."""
        name = self.resolve(device)
        dev = self.device(name)
        samples = self._samples(x)
        n = len(samples)
        step = max(1, min(dev.batch_size, STREAM_BYTES // (8 * max(self.graph.input.size, 1))))
        out: NDArray[Any] | None = None
        seconds, cycles, exact = 0.0, 0, dev.exact_codes
        for first in range(0, max(n, 1), step):
            part = dev.run(self._quantize(samples[first:first + step], offset + first))
            done = finish(part)
            if out is None:
                out = np.empty((n, *done.shape[1:]), dtype=done.dtype)
            out[first:first + len(done)] = done
            seconds += part.seconds
            cycles = -1 if part.cycles is None or cycles < 0 else cycles + part.cycles
        assert out is not None   # the loop runs at least once
        return name, RunResult(out, seconds, None if cycles < 0 else cycles, exact)

    def run(self, x: Any, device: str = "auto") -> tuple[str, RunResult]:
        """Run ``x`` on ``device`` (streamed in slices, see :meth:`predict`); returns the name
        of the device that ran and its raw result (codes, or the reference's floats)."""
        return self._stream(x, device, lambda part: part.outputs)

    def predict(self, x: Any, device: str = "auto", raw: bool = False, *,
                workers: int | None = None, address: str | None = None,
                shards: int | None = None) -> NDArray[Any]:
        """Outputs for ``x`` on ``device``: exact fixed-point values as floats, or with
        ``raw=True`` the integer codes of the output type.

        The ``reference`` device returns the framework's own floats; with ``raw=True`` they are
        quantized to the output type (its rounding and overflow modes). Large inputs go through
        the device a slice at a time, so memory stays a small multiple of the input's size;
        no samples give an empty result.

        With ``workers`` > 1 or an ``address``, the samples are cut into contiguous shards
        (``shards``, default one per worker and none over 32 MiB of input) that run on Ray
        workers, each loading the artifact from its path (which every worker must be able to
        read) and running ``device`` there; the outputs come back in input order, equal to
        this process's. ``address`` is a Ray cluster (``ray://HOST:10001``, ``auto``); without
        one kiln starts a local Ray with ``workers`` CPUs for the call. Without Ray installed,
        ``workers`` is ignored (logged) and this process runs everything.

        Raises:
            InputShapeError: ``x`` is ragged, non-numeric, of the wrong shape, or has a NaN.
            kiln.runtime.ShardError: a shard failed on every attempt (named with its range).
        """
        if use_ray("predict", workers, address, shards):
            samples = self._samples(x)
            if len(samples) > 1:
                out = predict_sharded(self, samples, device, raw, workers, address, shards)
                return out.reshape((len(out), *self.graph.output.shape))
        return self._predict_here(x, device, raw)

    def _predict_here(self, x: Any, device: str, raw: bool, offset: int = 0) -> NDArray[Any]:
        """:meth:`predict` in this process of ``x``, samples ``offset`` on of a larger input
        (a shard): messages number its samples in the whole input."""
        out_type = self.graph.output.out_type

        def finish(part: RunResult) -> NDArray[Any]:
            if part.exact_codes == raw:
                return part.outputs
            if raw:   # the reference's floats to codes
                return from_float(torch.from_numpy(part.outputs), out_type).numpy()
            return to_float(torch.from_numpy(part.outputs), out_type).numpy()

        _, result = self._stream(x, device, finish, offset)
        return result.outputs.reshape((len(result.outputs), *self.graph.output.shape))

    def serve(self, device: str = "auto", raw: bool = False, max_batch: int = 1024,
              max_wait_ms: float = 2.0) -> Server:
        """A dynamic batcher over :meth:`predict` for requests from several threads."""
        return Server(self, device, raw, max_batch, max_wait_ms)

    def compare(self, x: Any, devices: tuple[str, ...] | list[str] = DEFAULT_COMPARE,
                y_true: Any = None, baseline: str = "hls",
                trace_mismatches: bool = True) -> ComparisonReport:
        """Run ``x`` on every device and report agreement with ``baseline`` (integer codes)
        and with the framework reference (in LSBs of the output type).

        With ``trace_mismatches``, a device whose codes differ from the baseline's gets the
        first layer where they part (``diverges_at``, column "first bad layer"): a trace
        (:meth:`trace`) of up to :data:`TRACE_SAMPLES` differing samples at the two devices'
        levels and kiln.fixed's. Devices that agree cost nothing extra.

        Raises:
            InputShapeError: ``x`` holds no samples.
        """
        codes = self.input_codes(x)
        if not len(codes):
            raise InputShapeError("compare needs at least one sample; x holds none")
        results: dict[str, RunResult] = {}
        latency: dict[str, float] = {}
        for name in devices:
            resolved = self.resolve(name)
            device = self.device(resolved)
            results[resolved] = device.run(codes)
            latency[resolved] = device.run(codes[:1]).seconds  # one sample, device warm
        if baseline not in results:
            baseline = next((n for n, r in results.items() if r.exact_codes), "")
        if not baseline:
            raise KilnError("compare needs at least one bit-exact device (hls, fpga-sim, cpu)")
        out_type = self.graph.output.out_type
        base = results[baseline].outputs
        reference = results.get("reference")
        labels = None if y_true is None else np.asarray(y_true).reshape(-1)
        rows = []
        for name, result in results.items():
            values = (result.outputs if not result.exact_codes
                      else to_float(torch.from_numpy(result.outputs), out_type).numpy())
            rows.append(DeviceResult.measure(
                name, result, values, base if result.exact_codes else None,
                None if reference is None else reference.outputs, out_type.lsb, labels,
                latency[name],
            ))
        if trace_mismatches:
            rows = [self._locate(row, codes, results, baseline) for row in rows]
        return ComparisonReport(self.graph.name, len(base), baseline, tuple(rows))

    def _locate(self, row: DeviceResult, codes: NDArray[Any], results: dict[str, RunResult],
                baseline: str) -> DeviceResult:
        """``row`` with the first layer where its device and ``baseline`` part, from a trace
        of the samples where their outputs differ."""
        if not row.mismatches:
            return row
        level, base_level = TRACE_LEVEL.get(row.device), TRACE_LEVEL.get(baseline)
        if level is None or base_level is None:
            return replace(row, diverges_at=f"(no trace level for {row.device})")
        differ = np.any(results[row.device].outputs != results[baseline].outputs, axis=1)
        picked = codes[np.flatnonzero(differ)[:TRACE_SAMPLES]]
        try:
            trace = self.trace_codes(picked, sorted({level, base_level, "fixed"}))
        except KilnError as exc:
            log.warning("compare: could not trace %s: %s", row.device, exc)
            return replace(row, diverges_at="(trace failed)")
        first = trace.first_divergence()
        return replace(row, diverges_at="(layers agree)" if first is None else first.layer)

    def trace(self, x: Any, levels: tuple[str, ...] | list[str] | None = None,
              cache: str | Path | None = None) -> Trace:
        """Every layer's output codes for ``x`` at every level: ``reference`` (the framework
        model's layer outputs in each layer's type), ``fixed`` (kiln.fixed), ``hls``
        (hls4ml's C simulation, traced from a copy of ``hls/`` built once per project
        content) and ``rtl`` (the Verilated kiln_top with every layer's stream probed, built
        once per RTL content). ``trace.first_divergence()`` names the first layer where two
        of them disagree. A level that cannot run here is skipped and ``trace.skipped`` says
        why. ``cache`` holds the traced builds (default: the HLS one in the user's kiln
        cache, the RTL one in the artifact's ``sim/``).

        Raises:
            InputShapeError: ``x`` is ragged, of the wrong shape, or holds no samples.
            KilnError: an unknown level.
        """
        codes = self.input_codes(x)
        if not len(codes):
            raise InputShapeError("trace needs at least one sample; x holds none")
        return self.trace_codes(codes, levels, cache)

    def trace_codes(self, codes: NDArray[Any], levels: tuple[str, ...] | list[str] | None = None,
                    cache: str | Path | None = None) -> Trace:
        """:meth:`trace` for input codes (samples, input size) of the input type."""
        from kiln.trace import LEVELS, collect

        return collect(self.artifact, codes, LEVELS if levels is None else levels,
                       None if cache is None else Path(cache))

    def bit_sweep(self, x: Any, y_true: Any, widths: Any = None, layers: Any = None
                  ) -> BitSweep:
        """Accuracy on ``x`` against ``y_true`` with one layer's output type narrowed at a
        time, for each width (default 2 up to the layer's own), computed by kiln.fixed: where
        bits matter (:func:`kiln.trace.bit_sweep`; ``.table()``, ``.plot(path)``)."""
        from kiln.trace import bit_sweep

        return bit_sweep(self.graph, self.input_codes(x), y_true, widths, layers)


def load(path: str | Path) -> Runtime:
    """Open an artifact directory written by :func:`kiln.compile` (hashes checked)."""
    return Runtime(Artifact.open(path))
