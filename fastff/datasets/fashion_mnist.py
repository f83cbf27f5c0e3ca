"""Fashion-MNIST: 28x28 grey images of 10 clothing classes (``keras.datasets.fashion_mnist``).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

import os

import numpy as np

from fastff.data.idx import read_idx
from fastff.utils.file_utils import get_file

from ._common import ORIGIN

FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def _pair(labels_path: str, images_path: str) -> tuple[np.ndarray, np.ndarray]:
    y, x = read_idx(labels_path), read_idx(images_path)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
                         f"{x.dtype} {x.shape}")
    if y.dtype != np.uint8 or y.shape != (len(x),):
        raise ValueError(f"{labels_path}: expected {len(x)} uint8 labels, got {y.dtype} "
                         f"{y.shape}")
    return x, y


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` /
    ``(10000, 28, 28)`` and uint8 labels 0..9, from Keras's four gzip IDX files (cached in
    ``datasets/fashion-mnist``)."""
    subdir = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(name, origin=ORIGIN + name, cache_subdir=subdir) for name in FILES]
    x_train, y_train = _pair(paths[0], paths[1])
    x_test, y_test = _pair(paths[2], paths[3])
    return (x_train, y_train), (x_test, y_test)
