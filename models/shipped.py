"""The models kiln ships and verifies (`make sim`): where they are and what data checks them."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("KILN_SHARED", REPO.parent / "shared"))
EXAMPLE_MODELS = SHARED / "data" / "example-models"
BUILD = REPO / "build"


def _digits_test() -> tuple[np.ndarray, np.ndarray]:
    from models.data import digits_split

    _, x_te, _, y_te = digits_split()
    return x_te, y_te


def _digits_images() -> tuple[np.ndarray, np.ndarray]:
    x, y = _digits_test()
    return x.reshape(-1, 8, 8, 1), y


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    description: str
    data: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None  # None: random codes
    random_samples: int = 10_000
    io_type: str = "io_parallel"
    precision: str | None = None  # fixed-point type for every tensor of a float model

    @property
    def build_dir(self) -> Path:
        return BUILD / self.name


SHIPPED = (
    ShippedModel("digits_mlp", HERE / "digits_mlp.h5",
                 "QKeras 64-32-32-10 MLP, 6-bit, sklearn digits", _digits_test),
    ShippedModel("digits_mlp_small", HERE / "digits_mlp_small.h5",
                 "QKeras 64-16-10 MLP, 4-bit, sklearn digits (the `make bitstream` default)",
                 _digits_test),
    ShippedModel("digits_bnn", HERE / "digits_bnn.h5",
                 "QKeras binary MLP 64-128-64-10: binary weights and activations, batch "
                 "norms folded into thresholds, 6-bit input and logits, sklearn digits",
                 _digits_test),
    ShippedModel("jet_mlp", EXAMPLE_MODELS / "qkeras_3layer.json",
                 "hls4ml jet tagger 16-64-32-32-5, 6-bit QKeras, softmax"),
    ShippedModel("digits_cnn", HERE / "digits_cnn.h5",
                 "QKeras CNN 8x8x1 conv-pool-conv-dense, 6-bit, io_stream", _digits_images,
                 io_type="io_stream"),
    ShippedModel("digits_cnn_sep", HERE / "digits_cnn_sep.h5",
                 "QKeras depthwise-separable CNN, 6-bit, io_stream", _digits_images,
                 io_type="io_stream"),
    ShippedModel("jet_conv1d", EXAMPLE_MODELS / "KERAS_conv1d_small.json",
                 "hls4ml Conv1D jet tagger (float, fixed<16,6>), 'same' padding, io_stream",
                 random_samples=2_000, io_type="io_stream", precision="fixed<16,6>"),
)


def compile_and_verify(model: ShippedModel, protocol: bool = True):  # type: ignore[no-untyped-def]
    import kiln
    from kiln.verify import verify

    kiln.compile(str(model.path), model.build_dir, io_type=model.io_type,
                 precision=model.precision)
    if model.data is None:
        return verify(model.build_dir, samples=model.random_samples, protocol=protocol)
    x, y = model.data()
    return verify(model.build_dir, x=x, labels=y, protocol=protocol)


def main() -> int:
    from kiln.verify import format_table

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    reports = []
    for model in SHIPPED:
        if not model.path.is_file():
            logging.warning("skipping %s: %s not found", model.name, model.path)
            continue
        reports.append(compile_and_verify(model))
    print()
    print(format_table(reports))
    return 0 if reports and all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
