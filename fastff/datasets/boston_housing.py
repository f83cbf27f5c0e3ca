"""Boston Housing prices (``keras.datasets.boston_housing``).

The data carry a variable ("B") built on an assumption about racial self-segregation;
use it only to illustrate such problems, as Keras's documentation warns.
"""

from __future__ import annotations

import numpy as np

from fastff.utils.file_utils import get_file

from ._common import ORIGIN, check_int, check_split

SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: 13 features per row (``(n, 13)``) and the
    median house price in k$ (``(n,)``). Rows are shuffled with
    ``np.random.RandomState(seed)`` and the last ``test_split`` of them form the test set,
    so the split equals Keras's for the same seed."""
    test_split = check_split(test_split)
    check_int(seed, "seed", allow_none=True)
    path = get_file(path, origin=f"{ORIGIN}boston_housing.npz", file_hash=SHA256)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)  # noqa: NPY002 - Keras's exact shuffle
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
