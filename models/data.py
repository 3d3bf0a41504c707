"""Data loaders for the shipped recipes: only data sets that packages bundle (no downloads)."""

from __future__ import annotations

import numpy as np

SPLIT_SEED = 0
TEST_FRACTION = 0.25


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits as (x_train, x_test, y_train, y_test).

    Pixels (integers 0..16) are scaled by 1/16, so every value is exact in ufixed<6,1>.
    The split is stratified and fixed: 1347 training and 450 test samples.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return x_tr, x_te, y_tr, y_te
