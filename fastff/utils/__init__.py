"""Small helpers with Keras's names: seeding, one-hot encoding, padding sequences, normalizing,
splitting datasets, plotting training curves, downloading files into Keras's cache."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from fastff import config
from fastff._registry import get_registered_name, get_registered_object, registered_objects
from fastff._registry import register_serializable as register_keras_serializable
from fastff.utils.dataset_utils import split_dataset
from fastff.utils.file_utils import get_file
from fastff.utils.numerical import normalize
from fastff.utils.py_dataset import PyDataset
from fastff.utils.sequence_utils import pad_sequences

__all__ = ["register_keras_serializable", "get_registered_object", "get_registered_name",
           "get_custom_objects", "set_random_seed", "to_categorical", "plot_history",
           "clear_session", "pad_sequences",
           "normalize", "split_dataset", "PyDataset", "Sequence", "get_file"]

#: Keras's older name of ``PyDataset``
Sequence = PyDataset


def set_random_seed(seed: int) -> None:
    """Seed everything fastff draws from (initializers, dropout seeds, shuffling), plus Python's
    ``random`` and NumPy's legacy global generator, as Keras does.

    With the same seed, building and training the same model on the CPU gives bitwise the same
    weights whatever the thread count.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed: expected an integer seed, got {seed!r}")
    seed = int(seed)
    config.set_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - Keras seeds NumPy's global state too


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class ids: shape ``(n,)`` → ``(n, num_classes)``."""
    arr = np.asarray(y)
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.size and (arr.dtype.kind not in "iub" and not np.array_equal(arr, np.round(arr))):
        raise ValueError("to_categorical: y must hold integer class ids")
    ids = arr.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError("to_categorical: class ids must be >= 0")
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    elif ids.size and ids.max() >= num_classes:
        raise ValueError(f"to_categorical: class id {int(ids.max())} >= num_classes={num_classes}")
    out = np.zeros((ids.size, num_classes), dtype=dtype)
    out[np.arange(ids.size), ids.ravel()] = 1
    return out.reshape((*ids.shape, num_classes))


def plot_history(history: Any, path: Any, **kwargs: Any) -> Any:
    """Write training curves (loss and metrics, train vs validation) to the PNG ``path`` and
    return the path; needs matplotlib (the ``plot`` extra)."""
    from fastff.plotting import plot_history as _plot

    return _plot(history, path, **kwargs)


def clear_session() -> None:
    """Reset generated layer and metric names (``dense``, ``dense_1``, ``auc``, ``auc_1``, ...)
    as Keras's clear_session."""
    config.clear_session()


def get_custom_objects() -> dict[str, Any]:
    """The classes and functions registered with ``register_keras_serializable`` (a copy;
    fastff's registry is changed only through the decorator)."""
    return registered_objects()
