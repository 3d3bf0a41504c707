"""Lower an hls4ml ModelGraph into kiln's IR: the only place that reads hls4ml attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kiln.errors import PrecisionError, UnsupportedLayerError
from kiln.frontend._lower_hard import lower_hard_activation
from kiln.frontend._lower_norm import lower_batchnorm
from kiln.frontend._lower_rectifiers import RECTIFIER_LAYERS, lower_rectifier
from kiln.ir import (
    POOL_OPS,
    Cast,
    Conv,
    Dense,
    FixedType,
    Graph,
    Input,
    Node,
    Pad,
    Pool,
    Relu,
    SignThreshold,
    check_graph,
    frozen_codes,
    spatial,
)

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

SUPPORTED_HLS_LAYERS = ("Input", "Dense", "Activation (relu, linear)", "Softmax",
                        "Activation (sigmoid, tanh)", "Conv1D", "Conv2D", "DepthwiseConv1D",
                        "DepthwiseConv2D", "PointwiseConv1D", "PointwiseConv2D",
                        "Pooling1D (max, average)", "Pooling2D (max, average)",
                        "GlobalPooling1D (max, average)", "GlobalPooling2D (max, average)",
                        "ZeroPadding1D", "ZeroPadding2D", "BatchNormalization",
                        "HardActivation (QKeras hard sigmoid, tanh)",
                        "ParametrizedActivation (leaky_relu, thresholded_relu, elu)", "PReLU",
                        "Reshape", "Flatten", "BatchNormalizationQuantizedTanh (ternary)",
                        "Transpose (channels-first flatten order, before Flatten -> Dense)")
# Layers that only reshape a channel-last tensor: nothing to build, the next layer reads the
# same codes in the same order.
_RESHAPES = ("Reshape", "Flatten", "Repack")


def fixed_type(precision: Any, where: str) -> FixedType:
    """kiln's FixedType for an hls4ml precision object."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    name = type(precision).__name__
    if isinstance(precision, IntegerPrecisionType):
        return FixedType(precision.width, precision.width, bool(precision.signed))
    if not isinstance(precision, FixedPrecisionType):
        raise PrecisionError(
            f"{where}: type {precision} ({name}) is not fixed-point; kiln builds ap_fixed "
            "types only. Give this tensor a fixed<W,I> precision."
        )
    rounding = getattr(precision.rounding_mode, "name", "TRN") if precision.rounding_mode else "TRN"
    overflow = (getattr(precision.saturation_mode, "name", "WRAP")
                if precision.saturation_mode else "WRAP")
    if precision.saturation_bits not in (None, 0):
        raise PrecisionError(f"{where}: {precision} uses saturation bits; kiln supports none")
    try:
        return FixedType(precision.width, precision.integer, bool(precision.signed),
                         rounding, overflow)
    except PrecisionError as exc:
        raise PrecisionError(
            f"{where}: hls4ml typed it {precision}, which kiln cannot build ({exc}). hls4ml "
            "sizes a sum from its input and weight types, and a float layer in a quantized "
            "model has no type of its own. Fix: give the input a narrower type "
            "(input_precision=, or a narrower input quantizer), or put QActivation("
            "quantized_bits(...)) after a float layer."
        ) from exc


def _type_of(layer: Any, attr: str) -> FixedType:
    return fixed_type(layer.get_attr(attr).precision, f"Layer {layer.name!r} {attr}")


def _result_type(layer: Any) -> FixedType:
    return fixed_type(layer.get_output_variable().type.precision, f"Layer {layer.name!r} result")


def weight_codes(variable: Any, t: FixedType, where: str) -> NDArray[Any]:
    """Codes of a hls4ml weight variable exactly as the C simulation loads it: hls4ml prints
    each value with the type's decimal places and ap_fixed parses that text as a double."""
    import torch

    from kiln.fixed import from_float

    values = np.array([float(text) for text in variable], dtype=np.float64)
    codes = from_float(torch.from_numpy(values), t).numpy()
    exact = codes * 2.0 ** -t.frac
    lost = np.abs(exact - variable.data.reshape(-1)).max(initial=0.0)
    if lost > 0:
        # Not an error (float models are quantized on purpose) but worth knowing.
        import logging

        logging.getLogger(__name__).info("%s: weights quantized to %s (max change %.3g)",
                                         where, t, lost)
    return codes.reshape(variable.data.shape)


def _transpose_rows(layer: Any, previous: Node) -> NDArray[Any]:
    """For hls4ml's Transpose back to channels-first before a flatten (PyTorch's element
    order): ``rows[j]``, the channels-last element the transposed vector holds at ``j``."""
    perm = [int(p) for p in layer.get_attr("perm")]
    if sorted(perm) != list(range(len(previous.shape))):
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (Transpose): perm {perm} does not fit its input shape "
            f"{previous.shape}"
        )
    count = int(np.prod(previous.shape))
    return np.arange(count).reshape(previous.shape).transpose(perm).reshape(-1)


def _dense(layer: Any, source: str, reuse_factor: int,
           rows: NDArray[Any] | None = None) -> Dense:
    weight_t, bias_t = _type_of(layer, "weight_t"), _type_of(layer, "bias_t")
    weights = weight_codes(layer.weights["weight"], weight_t, f"Layer {layer.name!r} weight")
    bias = weight_codes(layer.weights["bias"], bias_t, f"Layer {layer.name!r} bias")
    n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    # hls4ml's Resource strategy (a folded layer) stores the kernel transposed.
    weights = (weights.reshape(n_out, n_in).T if layer.get_attr("_weights_transposed", False)
               else weights.reshape(n_in, n_out))
    if rows is not None:  # the input was transposed: read each weight row at its source
        moved = np.empty_like(weights)
        moved[rows] = weights
        weights = moved
    return Dense(
        name=layer.name, source=source, shape=(n_out,), out_type=_result_type(layer),
        weight=frozen_codes(weights), bias=frozen_codes(bias.reshape(n_out)),
        weight_type=weight_t, bias_type=bias_t, accum_type=_type_of(layer, "accum_t"),
        reuse_factor=reuse_factor,
    )


def _pads(layer: Any) -> tuple[int, int, int, int]:
    """A layer's zero padding (top, bottom, left, right)."""
    top, bottom, left, right = (int(layer.get_attr(f"pad_{side}", 0) or 0)
                                for side in ("top", "bottom", "left", "right"))
    return top, bottom, left, right


def _window(layer: Any, padded: bool = False) -> tuple[tuple[int, int], tuple[int, int]]:
    """(kernel, stride) of a 1D or 2D conv/pool layer as (rows, cols); ``padded``: the
    layer's own padding is lowered as a Pad before it (an io_parallel convolution)."""
    two_d = "2D" in layer.class_name  # Conv2D, Pooling2D, Conv2DBatchnorm
    names = ("filt", "stride") if "Pool" not in layer.class_name else ("pool", "stride")
    kernel = (int(layer.get_attr(f"{names[0]}_height")) if two_d else 1,
              int(layer.get_attr(f"{names[0]}_width")))
    stride = (int(layer.get_attr("stride_height")) if two_d else 1,
              int(layer.get_attr("stride_width")))
    pads = list(_pads(layer))
    if any(pads) and not padded:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r}: padding {pads} (top, bottom, left, right); kiln's RTL "
            "builds 'valid' padding only here. Use padding='valid' (pad the input beforehand)."
        )
    return kernel, stride


def _out_shape(layer: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in layer.get_output_variable().shape)


def _conv_padding(layer: Any, previous: Node) -> Pad | None:
    """The zero padding of an io_parallel convolution (hls4ml pads inside the layer there,
    not in a ZeroPadding layer of its own), as a Pad node in front of it; None: no padding."""
    pads = _pads(layer)
    if not any(pads):
        return None
    top, bottom, left, right = pads
    rows, cols, channels = spatial(previous.shape)
    shape = ((rows + top + bottom, cols + left + right, channels) if len(previous.shape) == 3
             else (cols + left + right, channels))
    return Pad(name=f"{layer.name}_pad", source=previous.name, shape=shape,
               out_type=previous.out_type, pads=pads)


def _conv(layer: Any, source: str, reuse_factor: int, padded: bool = False) -> Conv:
    kernel, stride = _window(layer, padded)
    weight_t, bias_t = _type_of(layer, "weight_t"), _type_of(layer, "bias_t")
    weights = weight_codes(layer.weights["weight"], weight_t, f"Layer {layer.name!r} weight")
    bias = weight_codes(layer.weights["bias"], bias_t, f"Layer {layer.name!r} bias")
    channels, window = int(layer.get_attr("n_chan")), kernel[0] * kernel[1]
    out_shape = _out_shape(layer)
    depthwise = layer.class_name.startswith("Depthwise")
    if layer.get_attr("_weights_transposed", False) and not depthwise:
        # hls4ml's Resource strategy stores the kernel filters first: (F, [H,] W, C); a
        # depthwise kernel's one filter axis has size 1, so its order does not change.
        weights = np.moveaxis(weights.reshape(out_shape[-1], window * channels), 0, -1)
    if depthwise:
        # Keras (rows, cols, channels, 1): channel c feeds only output c.
        per_channel = weights.reshape(window, channels)
        expanded = np.zeros((window, channels, channels), dtype=np.int64)
        expanded[:, np.arange(channels), np.arange(channels)] = per_channel
        weights = expanded
    return Conv(
        name=layer.name, source=source, shape=out_shape, out_type=_result_type(layer),
        weight=frozen_codes(weights.reshape(window * channels, out_shape[-1])),
        bias=frozen_codes(bias.reshape(out_shape[-1])), weight_type=weight_t, bias_type=bias_t,
        accum_type=_type_of(layer, "accum_t"), kernel=kernel, stride=stride,
        reuse_factor=reuse_factor, depthwise=depthwise,
    )


def _pool(layer: Any, source: str, previous: Node) -> Pool:
    op = str(layer.get_attr("pool_op")).lower()
    if op not in POOL_OPS:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r}: {op} pooling is not built by kiln's stream RTL; use max "
            "or average pooling."
        )
    if layer.class_name.startswith("Global"):  # one window: the whole image
        rows, cols, _ = spatial(previous.shape)
        kernel, stride = (rows, cols), (1, 1)
    else:
        kernel, stride = _window(layer)
    # Max pooling compares input codes; only an average sums, in the layer's accumulator.
    accum = {"accum_type": _type_of(layer, "accum_t")} if op == "average" else {}
    return Pool(name=layer.name, source=source, shape=_out_shape(layer),
                out_type=_result_type(layer), kernel=kernel, stride=stride, op=op, **accum)


def _pad(layer: Any, source: str) -> Pad:
    pads = tuple(int(layer.get_attr(f"pad_{side}", 0) or 0)
                 for side in ("top", "bottom", "left", "right"))
    return Pad(name=layer.name, source=source, shape=_out_shape(layer),
               out_type=_result_type(layer), pads=pads)  # type: ignore[arg-type]


def _sign_threshold(layer: Any, source: str, previous: Node) -> SignThreshold:
    """hls4ml's BatchNormalizationQuantizedTanh in its ternary form (``quantize`` 3; the
    binary form's XNOR codes are never built: kiln.frontend._keras_rewrite rewrites binary
    activations into this one): ``x > hi ? 1 : x <= lo ? -1 : 0``, thresholds in the
    input's type."""
    if layer.get_attr("quantize") != 3:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r}: hls4ml's binary BatchNormalizationQuantizedTanh (XNOR "
            "codes 0/1) is not built by kiln. Fix: convert the model through kiln.compile, "
            "which rewrites binary activations into the ternary form")
    t = previous.out_type
    codes = [weight_codes(layer.get_weights(key), t, f"Layer {layer.name!r} {key}").reshape(-1)
             for key in ("threshold_hi", "threshold_lo")]
    return SignThreshold(name=layer.name, source=source, shape=previous.shape,
                         out_type=_result_type(layer), upper=frozen_codes(codes[0]),
                         lower=frozen_codes(codes[1]))


def _activation(layer: Any, source: str, shape: tuple[int, ...]) -> Node:
    from kiln.frontend._lower_tables import lower_lut, lower_softmax

    function = str(layer.get_attr("activation")).lower()
    out_t = _result_type(layer)
    size = int(np.prod(shape))
    if layer.class_name == "Softmax" or function == "softmax":
        return lower_softmax(layer, source, (size,), out_t)
    if function == "relu":
        return Relu(name=layer.name, source=source, shape=shape, out_type=out_t)
    if function == "linear":
        return Cast(name=layer.name, source=source, shape=shape, out_type=out_t)
    if function in ("sigmoid", "tanh"):
        return lower_lut(layer, source, (size,), out_t, function)
    raise UnsupportedLayerError(
        f"Layer {layer.name!r}: activation {function!r} is not supported by kiln's RTL. "
        "Supported activations: relu, linear, softmax, sigmoid, tanh (and QKeras "
        "quantized_relu / quantized_bits)."
    )


#: The convolutions kiln folds (a Conv2DBatchnorm keeps reuse factor 1).
_FOLDABLE = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "PointwiseConv1D",
             "PointwiseConv2D")


def _refuse_folded_conv(layer: Any, options: BuildOptions) -> None:
    factor = options.reuse_for(layer.name)
    if factor != 1 and options.io_type == "io_parallel":
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({layer.class_name}): reuse factor {factor}; kiln builds "
            "convolutions in io_parallel fully unrolled (reuse factor 1) only. Fix: compile "
            "with io_type='io_stream' (kiln compile --io-type io_stream), which folds "
            "convolutions, or fold only the Dense layers, naming them: "
            "reuse_factor={'<dense layer>': R}."
        )
    if factor != 1 and layer.class_name not in _FOLDABLE:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({layer.class_name}): reuse factor {factor}; kiln folds "
            "Dense and Conv1D/2D layers (depthwise and pointwise too), and builds this one "
            "with reuse factor 1. Give the reuse factor per layer, naming the layers to fold: "
            "reuse_factor={'<layer>': R}."
        )


def foldable_layers(model_graph: Any) -> set[str]:
    """The layers of a converted model that kiln can fold (reuse factor > 1): Dense layers,
    and in io_stream convolutions."""
    stream = model_graph.config.get_config_value("IOType") == "io_stream"
    return {layer.name for layer in model_graph.get_layers()
            if layer.class_name == "Dense" or (stream and layer.class_name in _FOLDABLE)}


def lower(model_graph: Any, name: str, options: BuildOptions) -> Graph:
    """Lower a ModelGraph converted with ``options`` into a checked kiln :class:`Graph`.

    Each Dense layer keeps the reuse factor ``options`` gives it (kiln.ir checks that it
    folds the layer, as hls4ml would).
    """
    nodes: list[Node] = []
    rows: NDArray[Any] | None = None  # a pending Transpose, folded into the next Dense
    transpose = ""
    for layer in model_graph.get_layers():
        cls = layer.class_name
        source = nodes[-1].name if nodes else ""
        shape = nodes[-1].shape if nodes else ()
        if rows is not None and cls not in ("Dense", *_RESHAPES):
            if options.io_type != "io_parallel":
                raise _unfolded_transpose(f"Layer {layer.name!r} ({cls}) reads", transpose)
            nodes.append(_reorder(transpose, nodes, rows))
            rows = None
            source, shape = nodes[-1].name, nodes[-1].shape
        if cls == "Transpose" and nodes:
            transpose = layer.name
            rows = _transpose_rows(layer, nodes[-1])
            if _result_type(layer) != nodes[-1].out_type:
                nodes.append(Cast(name=layer.name, source=source, shape=shape,
                                  out_type=_result_type(layer)))
        elif cls == "Input":
            shape = tuple(int(d) for d in layer.get_output_variable().shape)
            nodes.append(Input(name=layer.name, source="", shape=shape,
                               out_type=_result_type(layer)))
        elif cls == "Dense":
            nodes.append(_dense(layer, source, options.reuse_for(layer.name), rows))
            rows = None
        elif cls == "HardActivation":  # QKeras hard quantized_sigmoid / quantized_tanh
            nodes.append(lower_hard_activation(layer, source, nodes[-1]))
        elif cls in ("Activation", "Softmax", "ReLU"):
            nodes.append(_activation(layer, source, shape))
        elif cls in RECTIFIER_LAYERS:
            nodes.append(lower_rectifier(layer, source, shape, _result_type(layer)))
        elif cls in ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "PointwiseConv1D",
                     "PointwiseConv2D", "Conv2DBatchnorm"):  # the last: weights folded by hls4ml
            _refuse_folded_conv(layer, options)
            pad = _conv_padding(layer, nodes[-1]) if options.io_type == "io_parallel" else None
            if pad is not None:
                nodes.append(pad)
            nodes.append(_conv(layer, nodes[-1].name, options.reuse_for(layer.name),
                               padded=pad is not None))
        elif cls in ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"):
            nodes.append(_pool(layer, source, nodes[-1]))
        elif cls in ("ZeroPadding1D", "ZeroPadding2D"):
            nodes.append(_pad(layer, source))
        elif cls == "BatchNormalization":
            nodes.append(lower_batchnorm(layer, source, nodes[-1]))
        elif cls == "BatchNormalizationQuantizedTanh":  # kiln.frontend._keras_rewrite's form
            nodes.append(_sign_threshold(layer, source, nodes[-1]))
        elif cls in _RESHAPES:
            continue
        else:
            raise UnsupportedLayerError(
                f"Layer {layer.name!r} of hls4ml type {cls} is not supported by kiln's RTL. "
                f"Supported: {', '.join(SUPPORTED_HLS_LAYERS)}."
            )
    if rows is not None:  # without this the output would come out channels last
        if options.io_type != "io_parallel":
            raise _unfolded_transpose("The model's output is", transpose)
        nodes.append(_reorder(transpose, nodes, rows))
    return check_graph(Graph(name=name, nodes=tuple(nodes), io_type=options.io_type))


def _reorder(transpose: str, nodes: list[Node], rows: NDArray[Any]) -> Dense:
    """hls4ml's Transpose back to channels-first where no Dense reads it (an io_parallel
    flatten at the output, or before an activation): the reorder as a Dense of one weight 1
    per output, ``y[j] = x[rows[j]]``, exact in the input's type (its accumulator and
    output), which kiln.rtl builds as wiring and a register and kiln.fixed as a product."""
    previous = nodes[-1]
    t, n = previous.out_type, previous.size
    weight = np.zeros((n, n), dtype=np.int64)
    weight[rows, np.arange(n)] = 1
    one = FixedType(2, 2)  # holds the weight 1, and the bias 0
    name = transpose if all(node.name != transpose for node in nodes) else f"{transpose}_order"
    return Dense(name=name, source=previous.name, shape=(n,), out_type=t,
                 weight=frozen_codes(weight), bias=frozen_codes(np.zeros(n, dtype=np.int64)),
                 weight_type=one, bias_type=one, accum_type=t)


def _unfolded_transpose(what: str, transpose: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"{what} the channels-first (PyTorch-order) flatten made by {transpose!r}; kiln "
        "builds that order in io_stream only as the input of a Linear/Dense, whose weight "
        "rows it reorders (hls4ml's C simulation of the reordering in a stream is not "
        "bit-exact to check against). Fix: follow the flatten with a Linear, return the "
        "tensor unflattened (the hardware gives it channels last), or compile with "
        "io_type='io_parallel', which builds the reorder."
    )
