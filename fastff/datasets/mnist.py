"""MNIST handwritten digits (``keras.datasets.mnist``)."""

from __future__ import annotations

import numpy as np

from fastff.utils.file_utils import get_file

from ._common import ORIGIN

SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path: str = "mnist.npz"
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)`` (0..255), uint8 labels 0..9 of shape ``(60000,)`` / ``(10000,)``.

    ``path`` is the file name in the cache (``~/.keras/datasets`` or ``$KERAS_HOME``).
    The file (11 MB) is downloaded once and checked against its sha256.
    """
    path = get_file(fname=path, origin=f"{ORIGIN}mnist.npz", file_hash=SHA256)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
