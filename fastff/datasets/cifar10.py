"""CIFAR-10: 32x32 colour images of 10 classes (``keras.datasets.cifar10``).

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck.
"""

from __future__ import annotations

import os

import numpy as np

from fastff import config
from fastff.utils.file_utils import get_file

from ._cifar import load_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(50000, 32, 32, 3)`` /
    ``(10000, 32, 32, 3)`` (channels first when ``fastff.config.image_data_format()`` says
    so) and uint8 labels of shape ``(50000, 1)`` / ``(10000, 1)``. The 163 MB archive is
    downloaded once and extracted into ``datasets/cifar-10-batches-py-target``."""
    path = get_file(fname="cifar-10-batches-py-target", origin=ORIGIN, extract=True,
                    file_hash=SHA256)
    path = os.path.join(path, "cifar-10-batches-py")
    parts = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts]).astype(np.uint8).reshape(-1, 1)
    x_test, y_test = load_batch(os.path.join(path, "test_batch"))
    y_test = y_test.astype(np.uint8).reshape(-1, 1)
    if config.image_data_format() == "channels_last":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
