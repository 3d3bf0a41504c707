"""The C simulation built from kiln's rewritten weight headers gives the same output codes as
the one built from hls4ml's headers, on QKeras models: io_parallel and io_stream, a folded
layer (reuse factor above 1: hls4ml's Resource strategy and its transposed kernel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.hls._weights import MARKER, HeaderRewrite

pytestmark = pytest.mark.slow  # four g++ builds of hls4ml's C simulation


def _quant() -> dict[str, Any]:
    from qkeras import quantized_bits

    return {"kernel_quantizer": quantized_bits(6, 0, alpha=1),
            "bias_quantizer": quantized_bits(6, 0, alpha=1)}


def _mlp() -> Any:
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    inp = keras.Input(shape=(12,))
    x = QActivation(quantized_bits(8, 2, alpha=1), name="input_q")(inp)
    x = QDense(24, name="fc1", **_quant())(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    return keras.Model(inp, QDense(6, name="fc2", **_quant())(x))


def _cnn() -> Any:
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    inp = keras.Input(shape=(8, 8, 2))
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="input_q")(inp)
    x = QConv2D(4, 3, name="conv", **_quant())(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inp, QDense(5, name="fc", **_quant())(x))


def _seeded(make: Any) -> Any:
    from tensorflow import keras

    keras.utils.set_random_seed(3)
    model = make()
    rng = np.random.default_rng(3)
    # weights on the 6-bit grid, so every one is a distinct ap_fixed code
    model.set_weights([rng.integers(-32, 32, size=w.shape) / 32 for w in model.get_weights()])
    return model


def _csim(model: Any, options: Any, out_dir: Path) -> tuple[Any, Path]:
    from kiln import frontend, hls

    converted = frontend.convert(model, out_dir, options)
    graph = frontend.lower(converted, "small", options)
    library = hls.write_and_compile(converted)
    csim = hls.CSim(library, graph.input.out_type, graph.output.out_type, graph.input.size,
                    graph.output.size)
    return csim, out_dir / "firmware" / "weights"


@pytest.mark.parametrize(("make", "io_type", "reuse_factor"), [
    (_mlp, "io_parallel", {"fc1": 4}),
    (_cnn, "io_stream", {"conv": 3, "fc": 4}),
])
def test_rewritten_weights_give_hls4mls_csim_codes(make: Any, io_type: str,
                                                   reuse_factor: dict[str, int],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kiln.hls._csim
    from kiln.compiler import BuildOptions

    model = _seeded(make)
    options = BuildOptions(io_type=io_type, reuse_factor=reuse_factor)  # type: ignore[arg-type]
    ours, our_weights = _csim(model, options, tmp_path / "kiln")
    with monkeypatch.context() as patch:  # hls4ml's headers, as hls4ml wrote them
        patch.setattr(kiln.hls._csim, "rewrite_weight_headers", lambda _: HeaderRewrite())
        theirs, their_weights = _csim(model, options, tmp_path / "hls4ml")

    headers = sorted(p.name for p in our_weights.glob("*.h"))
    assert headers and headers == sorted(p.name for p in their_weights.glob("*.h"))
    assert all(MARKER in (our_weights / h).read_text() for h in headers)
    assert not any(MARKER in (their_weights / h).read_text() for h in headers)

    t = ours.in_type
    codes = np.random.default_rng(0).integers(t.min_code, t.max_code + 1, size=(300, ours.n_in))
    want = theirs.run(codes)
    got = ours.run(codes)
    assert got.shape == want.shape == (300, ours.n_out)
    assert np.array_equal(got, want)
    assert len(np.unique(want, axis=0)) > 50  # the outputs depend on the input
