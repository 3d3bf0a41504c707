"""A QKeras MLP small enough for the iCE40 UP5K (16-8-4, 4-bit weights, seeded random
weights: the flow needs a real kiln.rtl design, not an accurate one).

``python tests/flows/tiny_mlp.py`` rewrites ``fixtures/tiny_mlp.h5``, which
``make bitstream BOARD=icebreaker MODEL=tests/flows/fixtures/tiny_mlp.h5`` builds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PATH = Path(__file__).parent / "fixtures" / "tiny_mlp.h5"
SEED = 7


def build_tiny_mlp():  # type: ignore[no-untyped-def]
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    def quant() -> dict:
        return {"kernel_quantizer": quantized_bits(4, 0, alpha=1),
                "bias_quantizer": quantized_bits(4, 0, alpha=1)}

    inp = keras.Input(shape=(16,), name="x")
    x = QActivation(quantized_bits(4, 1, alpha=1), name="input_q")(inp)
    x = QDense(8, name="fc1", **quant())(x)
    x = QActivation(quantized_relu(4, 2), name="relu1")(x)
    out = QDense(4, name="fc2", **quant())(x)
    model = keras.Model(inp, out, name="tiny_mlp")
    rng = np.random.default_rng(SEED)
    # weights on the 4-bit grid (multiples of 1/8 in [-1, 7/8])
    model.set_weights([rng.integers(-8, 8, size=w.shape) / 8 for w in model.get_weights()])
    return model


if __name__ == "__main__":
    build_tiny_mlp().save(PATH)
    print(PATH)
