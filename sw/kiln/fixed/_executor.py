"""Execute a kiln IR graph on integer codes with torch: the bit-exact reference model.

The same code runs on CPU and CUDA; every op follows hls4ml's Vivado templates and
ap_fixed casts (kiln.fixed.requantize), so its codes equal the HLS C simulation's.

A graph is prepared once per torch device (:func:`prepare`): weights, biases and tables are
placed on the device and every per-layer choice (an exact float64 matrix product or int64
products) is made then, from the types alone. Running it is then only tensor operations on
that device: no host round trip, no ``.item()``, nothing that waits for the device, so it
can be captured in a CUDA graph or compiled (:mod:`kiln.fixed._accel`).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import torch

from kiln.errors import UnsupportedLayerError
from kiln.fixed._accel import Accel, accelerate, choose_accel
from kiln.fixed._activations import Step, lut_step, softmax_step
from kiln.fixed._quantize import requantize, trunc_div
from kiln.fixed._rectifiers import elu_step, leaky_relu_step, sign_threshold_step
from kiln.ir import (
    Cast,
    Conv,
    Dense,
    Elu,
    FixedType,
    Graph,
    Input,
    LeakyRelu,
    Lut,
    Node,
    Pad,
    Pool,
    Relu,
    SignThreshold,
    Softmax,
    spatial,
)

# Products of int64 codes are exact while |x|,|w| < 2**31; a Dense layer is split into input
# chunks so the (batch, chunk, n_out) product tensor stays small.
_PRODUCT_ELEMENTS = 1 << 24

# On the CPU a large batch runs in slices of about this many elements in its widest layer,
# so the intermediate tensors stay in cache: 2 to 4 times the rate of whole 100,000-sample
# batches of the shipped models on one thread (measured on the 2-core development machine).
_CPU_SLICE_ELEMENTS = 1 << 18

# float64 holds every integer below 2**53 exactly, so a matrix product whose every partial
# sum stays below that is exact in any summation order (and runs on BLAS or cuBLAS, not
# int64 loops); its result is an integer, so converting it back needs no rounding.
_FLOAT64_EXACT = 1 << 53


def _reads_low_bits(acc_t: FixedType, out_t: FixedType) -> bool:
    """Whether casting accumulator codes to ``out_t`` reads only their low ``acc_t.width``
    bits, so wrapping them to ``acc_t`` first changes nothing: ``out_t`` wraps, its rounding
    reads no sign, and the bits it keeps (``out_t.width`` above the ones it drops) lie
    within the accumulator's."""
    return (acc_t.overflow == "WRAP" and out_t.overflow == "WRAP"
            and out_t.rounding in ("TRN", "RND", "RND_MIN_INF", "RND_CONV")
            and 0 <= acc_t.frac - out_t.frac <= 62
            and out_t.width + acc_t.frac - out_t.frac <= acc_t.width)


def _dense_step(node: Dense, in_type: FixedType, device: torch.device) -> Step:
    acc_t = node.accum_type
    product_frac = in_type.frac + node.weight_type.frac
    bias = requantize(torch.tensor(node.bias, device=device), node.bias_type.frac, acc_t)
    weight = np.asarray(node.weight, dtype=np.int64)
    x_peak = max(abs(in_type.min_code), abs(in_type.max_code))
    column_peak = int(np.abs(weight).sum(axis=0).max()) if weight.size else 0

    def finish(acc: torch.Tensor) -> torch.Tensor:
        # The accumulator wraps (checked by kiln.ir.check_graph): wrapping once at the end
        # equals wrapping after every addition.
        if _reads_low_bits(acc_t, node.out_type):
            return requantize(acc, acc_t.frac, node.out_type)
        return requantize(requantize(acc, acc_t.frac, acc_t), acc_t.frac, node.out_type)

    # Where the accumulator keeps every fractional bit of a product, casting each product is
    # a shift and a wrap, and wrapping commutes with the sum: one matrix product does.
    if acc_t.frac >= product_frac and x_peak * column_peak < _FLOAT64_EXACT:
        w64 = torch.tensor(weight, dtype=torch.float64, device=device)
        shift = acc_t.frac - product_frac

        def exact(x: torch.Tensor) -> torch.Tensor:
            summed = (x.to(torch.float64) @ w64).to(torch.int64)
            return finish((summed << shift if shift else summed) + bias)

        return exact
    w = torch.tensor(weight, device=device)

    def products(x: torch.Tensor) -> torch.Tensor:
        acc = bias.expand(x.shape[0], -1).clone()
        chunk = max(1, _PRODUCT_ELEMENTS // max(1, x.shape[0] * node.n_out))
        for start in range(0, node.n_in, chunk):
            p = x[:, start:start + chunk, None] * w[None, start:start + chunk, :]
            acc += requantize(p, product_frac, acc_t).sum(dim=1)
        return finish(acc)

    return products


def _windows(x: torch.Tensor, in_shape: tuple[int, ...], node: Conv | Pool) -> torch.Tensor:
    """Every output pixel's window (batch * out pixels, rows * cols * channels), flattened
    row, column, channel as hls4ml's line buffer hands it to the multiply."""
    rows, cols, channels = spatial(in_shape)
    (kr, kc), (sr, sc) = node.kernel, node.stride
    image = x.reshape(x.shape[0], rows, cols, channels)
    patches = image.unfold(1, kr, sr).unfold(2, kc, sc)  # (b, out_r, out_c, ch, kr, kc)
    return patches.permute(0, 1, 2, 4, 5, 3).reshape(-1, kr * kc * channels)


def _conv_step(node: Conv, in_type: FixedType, in_shape: tuple[int, ...],
               device: torch.device) -> Step:
    dense = _dense_step(node.window_dense(), in_type, device)
    return lambda x: dense(_windows(x, in_shape, node)).reshape(x.shape[0], -1)


def _pool_step(node: Pool, in_type: FixedType, in_shape: tuple[int, ...],
               device: torch.device) -> Step:
    channels = spatial(in_shape)[2]
    if node.op == "average":
        sums = _dense_step(node.window_sum(), in_type, device)

        def average(x: torch.Tensor) -> torch.Tensor:
            quotient = trunc_div(sums(_windows(x, in_shape, node)), node.window_size)
            return requantize(quotient, node.accum_type.frac, node.out_type).reshape(
                x.shape[0], -1)

        return average

    def maximum(x: torch.Tensor) -> torch.Tensor:
        windows = _windows(x, in_shape, node).reshape(-1, node.window_size, channels)
        return requantize(windows.amax(dim=1), in_type.frac, node.out_type).reshape(
            x.shape[0], -1)

    return maximum


def _pad_step(node: Pad, in_type: FixedType, in_shape: tuple[int, ...]) -> Step:
    rows, cols, channels = spatial(in_shape)
    top, bottom, left, right = node.pads

    def pad(x: torch.Tensor) -> torch.Tensor:
        image = x.reshape(x.shape[0], rows, cols, channels)
        padded = torch.nn.functional.pad(image, (0, 0, left, right, top, bottom))
        return requantize(padded.reshape(x.shape[0], -1), in_type.frac, node.out_type)

    return pad


def _step(node: Node, in_type: FixedType, in_shape: tuple[int, ...],
          device: torch.device) -> Step:
    """``node`` prepared for ``device``, reading codes of ``in_type`` and shape ``in_shape``."""
    if isinstance(node, Dense):
        return _dense_step(node, in_type, device)
    if isinstance(node, Conv):
        return _conv_step(node, in_type, in_shape, device)
    if isinstance(node, Pool):
        return _pool_step(node, in_type, in_shape, device)
    if isinstance(node, Pad):
        return _pad_step(node, in_type, in_shape)
    if isinstance(node, Relu):
        if not node.out_type.signed and node.out_type.overflow != "WRAP":
            # every rounding takes a negative code to one <= 0, which saturates to 0
            return lambda x: requantize(x, in_type.frac, node.out_type)
        return lambda x: requantize(x.clamp(min=0), in_type.frac, node.out_type)
    if isinstance(node, Cast):
        return lambda x: requantize(x, in_type.frac, node.out_type)
    if isinstance(node, Lut):
        return lut_step(node, in_type, device)
    if isinstance(node, Softmax):
        return softmax_step(node, in_type, device)
    if isinstance(node, LeakyRelu):
        return leaky_relu_step(node, in_type, device)
    if isinstance(node, Elu):
        return elu_step(node, in_type, device)
    if isinstance(node, SignThreshold):
        return sign_threshold_step(node, device)
    raise UnsupportedLayerError(
        f"kiln.fixed cannot execute node {node.name!r} of kind {node.kind!r}"
    )


class Program:
    """A graph prepared for one torch device; make it with :func:`prepare`.

    Attributes:
        graph: the graph it runs.
        device: the torch device its constants live on and its inputs must be on.
    """

    def __init__(self, graph: Graph, device: torch.device) -> None:
        self.graph = graph
        self.device = device
        self._steps: list[tuple[str, Step]] = []
        in_type, in_shape = graph.input.out_type, graph.input.shape
        for node in graph.nodes:
            if not isinstance(node, Input):
                self._steps.append((node.name, _step(node, in_type, in_shape, device)))
            in_type, in_shape = node.out_type, node.shape
        self._accelerated: dict[str, Step] = {}
        self._lock = threading.Lock()
        widest = max(max(n.size, 1) for n in graph.nodes)
        self._cpu_rows = max(1, _CPU_SLICE_ELEMENTS // widest)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        for _, step in self._steps:
            x = step(x)
        return x

    def run(self, codes: torch.Tensor, accel: str | None = "eager") -> torch.Tensor:
        """The output codes (batch, output size) for input ``codes`` (batch, *input shape),
        any integer dtype, on this program's device; ``accel`` as :func:`execute` takes it.

        Raises:
            DeviceError: ``accel`` is unknown, or asks for CUDA graphs off a CUDA device.
        """
        x = codes.to(torch.int64).reshape(codes.shape[0], self.graph.input.size)
        accel = choose_accel(accel, x.device)
        if accel == "eager" and x.device.type == "cpu" and len(x) > self._cpu_rows:
            rows = self._cpu_rows
            return torch.cat([self._flat(x[i:i + rows]) for i in range(0, len(x), rows)])
        if accel == "eager" or x.shape[0] == 0:
            return self._flat(x)
        with self._lock:
            runner = self._accelerated.get(accel)
            if runner is None:
                runner = self._accelerated[accel] = accelerate(self._flat, accel, self.device)
        return runner(x.contiguous())

    def layers(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output codes (batch, node size) by node name, the input's included,
        run eagerly layer by layer (kiln.trace's ``fixed`` level)."""
        x = codes.to(torch.int64).reshape(codes.shape[0], self.graph.input.size)
        outputs: dict[str, torch.Tensor] = {self.graph.input.name: x}
        for name, step in self._steps:
            x = outputs[name] = step(x)
        return outputs

    def trace(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output codes by node name (eager), and the output under ``"output"``
        (which hides a node named ``output`` that is not the last: read it from
        :meth:`layers`)."""
        outputs = self.layers(codes)
        outputs["output"] = outputs[self.graph.output.name]
        return outputs


_PROGRAMS: weakref.WeakKeyDictionary[Graph, dict[torch.device, Program]] = (
    weakref.WeakKeyDictionary())
_PROGRAMS_LOCK = threading.Lock()


def prepare(graph: Graph, device: torch.device | str = "cpu") -> Program:
    """``graph`` prepared for ``device``, made once per graph and device and kept while the
    graph lives (so repeated :func:`execute` calls place no constants again)."""
    where = torch.device(device)
    if where.type == "cuda" and where.index is None:
        where = torch.device("cuda", torch.cuda.current_device())
    with _PROGRAMS_LOCK:
        programs = _PROGRAMS.setdefault(graph, {})
        program = programs.get(where)
        if program is None:
            program = programs[where] = Program(graph, where)
    return program


def execute(graph: Graph, codes: torch.Tensor, trace: bool = False,
            accel: Accel | None = None) -> dict[str, torch.Tensor]:
    """Run ``graph`` on input ``codes`` (int64, shape (batch, *input shape)) on their device.

    Args:
        graph: the kiln IR graph.
        codes: input codes of the graph's input type, on the CPU or a CUDA device.
        trace: also return every node's output codes under its name (always eager).
        accel: how to run on a CUDA device: ``"eager"`` (op by op), ``"graphs"`` (one CUDA
            graph replay per batch shape), ``"compile"`` (``torch.compile``) or
            ``"compile+graphs"``. None: ``$KILN_FIXED_ACCEL`` on CUDA (default eager),
            eager on the CPU. Every mode gives the same codes.

    Returns:
        The output codes under ``"output"`` and, with ``trace=True``, every node's codes.

    Raises:
        DeviceError: ``accel`` is unknown, or asks for CUDA graphs off a CUDA device.
        UnsupportedLayerError, PrecisionError: a node kiln.fixed cannot run exactly.
    """
    program = prepare(graph, codes.device)
    if trace:
        return program.trace(codes)
    return {"output": program.run(codes, accel)}
