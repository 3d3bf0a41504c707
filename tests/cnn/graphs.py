"""Small io_stream graphs with random weights, built straight in kiln IR (no hls4ml)."""

from __future__ import annotations

import numpy as np

from kiln.ir import (
    Conv,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    Pad,
    Pool,
    Relu,
    check_graph,
    frozen_codes,
    spatial,
)

IN_T = FixedType(6, 2, True)
W_T = FixedType(4, 1, True)
ACC_T = FixedType(18, 9, True)
OUT_T = FixedType(8, 4, True, "RND", "SAT")
RELU_T = FixedType(6, 3, False, "RND_CONV", "SAT")
AVG_T = FixedType(5, 1, True, "RND", "SAT")


class Chain:
    """Appends layers to an Input, each reading the one before; :meth:`graph` checks it."""

    def __init__(self, shape: tuple[int, ...], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Node] = [Input("in", "", shape, IN_T)]

    @property
    def last(self) -> Node:
        return self.nodes[-1]

    def _codes(self, shape: tuple[int, ...], t: FixedType) -> np.ndarray:
        return self.rng.integers(t.min_code, t.max_code + 1, size=shape)

    def conv(self, filters: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
             depthwise: bool = False) -> Chain:
        rows, cols, channels = spatial(self.last.shape)
        out_rows = (rows - kernel[0]) // stride[0] + 1
        out_cols = (cols - kernel[1]) // stride[1] + 1
        window = kernel[0] * kernel[1]
        if depthwise:
            filters = channels
            weight = np.zeros((window, channels, channels), dtype=np.int64)
            idx = np.arange(channels)
            weight[:, idx, idx] = self._codes((window, channels), W_T)
            weight = weight.reshape(window * channels, channels)
        else:
            weight = self._codes((window * channels, filters), W_T)
        shape = (out_rows, out_cols, filters) if len(self.last.shape) == 3 else (out_cols, filters)
        name = f"conv{len(self.nodes)}"
        self.nodes.append(Conv(name, self.last.name, shape, OUT_T, weight=frozen_codes(weight),
                               bias=frozen_codes(self._codes((filters,), W_T)), weight_type=W_T,
                               bias_type=W_T, accum_type=ACC_T, kernel=kernel, stride=stride,
                               depthwise=depthwise))
        return self

    def relu(self) -> Chain:
        self.nodes.append(Relu(f"relu{len(self.nodes)}", self.last.name, self.last.shape, RELU_T))
        return self

    def pool(self, kernel: tuple[int, int], stride: tuple[int, int],
             average_in: FixedType | None = None) -> Chain:
        """Max pooling, or average pooling summing in ``average_in``."""
        rows, cols, channels = spatial(self.last.shape)
        out = ((rows - kernel[0]) // stride[0] + 1, (cols - kernel[1]) // stride[1] + 1)
        shape = (*out, channels) if len(self.last.shape) == 3 else (out[1], channels)
        name = f"pool{len(self.nodes)}"
        if average_in is None:
            node = Pool(name, self.last.name, shape, self.last.out_type, kernel=kernel,
                        stride=stride)
        else:
            node = Pool(name, self.last.name, shape, AVG_T, kernel=kernel, stride=stride,
                        op="average", accum_type=average_in)
        self.nodes.append(node)
        return self

    def pad(self, pads: tuple[int, int, int, int]) -> Chain:
        rows, cols, channels = spatial(self.last.shape)
        top, bottom, left, right = pads
        shape = ((rows + top + bottom, cols + left + right, channels)
                 if len(self.last.shape) == 3 else (cols + left + right, channels))
        self.nodes.append(Pad(f"pad{len(self.nodes)}", self.last.name, shape,
                              self.last.out_type, pads=pads))
        return self

    def dense(self, n_out: int) -> Chain:
        n_in = self.last.size
        self.nodes.append(Dense(f"fc{len(self.nodes)}", self.last.name, (n_out,), OUT_T,
                                weight=frozen_codes(self._codes((n_in, n_out), W_T)),
                                bias=frozen_codes(self._codes((n_out,), W_T)), weight_type=W_T,
                                bias_type=W_T, accum_type=ACC_T))
        return self

    def graph(self) -> Graph:
        return check_graph(Graph("stream", tuple(self.nodes), io_type="io_stream"))


def input_codes(graph: Graph, n: int, seed: int) -> np.ndarray:
    t = graph.input.out_type
    rng = np.random.default_rng(seed)
    return rng.integers(t.min_code, t.max_code + 1, size=(n, graph.input.size))
