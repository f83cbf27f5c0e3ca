"""CIFAR-100: 32x32 colour images of 100 classes in 20 superclasses
(``keras.datasets.cifar100``)."""

from __future__ import annotations

import os

import numpy as np

from fastff import config
from fastff.utils.file_utils import get_file

from ._cifar import load_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode: str = "fine"
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(50000, 32, 32, 3)`` /
    ``(10000, 32, 32, 3)`` and int64 labels ``(n, 1)``: the 100 classes for
    ``label_mode="fine"``, the 20 superclasses for ``"coarse"``. The 161 MB archive is
    downloaded once and extracted into ``datasets/cifar-100-python-target``."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError('`label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode!r}.")
    path = get_file(fname="cifar-100-python-target", origin=ORIGIN, extract=True,
                    file_hash=SHA256)
    path = os.path.join(path, "cifar-100-python")
    key = f"{label_mode}_labels"
    x_train, y_train = load_batch(os.path.join(path, "train"), label_key=key)
    x_test, y_test = load_batch(os.path.join(path, "test"), label_key=key)
    y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)
    if config.image_data_format() == "channels_last":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
