"""Read a CIFAR batch file (a pickled dict) without unpickling; shared by cifar10/cifar100."""

from __future__ import annotations

import numpy as np

from ._npz import parse_pickle


def load_batch(fpath: str, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """``(data (n, 3, 32, 32) uint8, labels (n,) int64)`` of one CIFAR batch file."""
    with open(fpath, "rb") as f:
        d = parse_pickle(f.read(), fpath)
    if not isinstance(d, dict):
        raise ValueError(f"{fpath}: expected a pickled dict, got {type(d).__name__}")
    d = {k.decode("utf-8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data, labels = d.get("data"), d.get(label_key)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 \
            or data.dtype != np.uint8:
        raise ValueError(f"{fpath}: 'data' is not an (n, 3072) uint8 array")
    if labels is None:
        raise ValueError(f"{fpath}: no {label_key!r} entry")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(data),):
        raise ValueError(f"{fpath}: {labels.shape} {label_key} for {len(data)} images")
    return data.reshape(len(data), 3, 32, 32), labels
