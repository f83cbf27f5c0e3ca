"""California Housing prices (``keras.datasets.california_housing``): 20,640 districts of
the 1990 census, 8 features each, the median house value in dollars as target."""

from __future__ import annotations

import numpy as np

from fastff.utils.file_utils import get_file

from ._common import ORIGIN, check_int, check_split

SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version: str = "large", path: str = "california_housing.npz",
              test_split: float = 0.2, seed: int = 113
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: ``(n, 8)`` features and ``(n,)`` prices.
    ``version="small"`` keeps the first 600 rows. Rows are shuffled with
    ``np.random.RandomState(seed)`` and the last ``test_split`` of them form the test set,
    as in Keras."""
    test_split = check_split(test_split)
    check_int(seed, "seed", allow_none=True)
    if version not in ("large", "small"):
        raise ValueError("Argument `version` must be one of 'small', 'large'. "
                         f"Received: version={version!r}")
    path = get_file(path, origin=f"{ORIGIN}california_housing.npz", file_hash=SHA256)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)  # noqa: NPY002 - Keras's exact shuffle
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
