"""Accuracy metrics: exact-match, binary, categorical, sparse-categorical and top-k."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.metrics.base import MeanMetricWrapper, as_float, same_rank

__all__ = [
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "accuracy", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]


def _labels(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true)
    return y.reshape(y.shape[0]) if y.ndim == 2 and y.shape[1] == 1 else y


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where ``argmax(y_pred) == y_true`` (integer ids)."""
    p = np.asarray(y_pred)
    return (np.argmax(p, axis=-1) == _labels(y_true)).astype(np.float64)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets)."""
    return (np.argmax(np.asarray(y_pred), axis=-1)
            == np.argmax(np.asarray(y_true), axis=-1)).astype(np.float64)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """1.0 where ``(y_pred > threshold) == y_true``, elementwise (as Keras 3; ``Mean``
    then averages each sample over its other axes, and a 1-D batch is one value a sample)."""
    t, p = _matched(y_true, y_pred)
    return (t == (p > threshold)).astype(np.float64)


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Exact-match accuracy (Keras's ``Accuracy``), elementwise."""
    t, p = _matched(y_true, y_pred)
    return (p == t).astype(np.float64)


def _matched(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as arrays of one shape (ranks differing by one matched as
    Keras's ``squeeze_or_expand_to_same_rank``, else ``y_true`` reshaped to ``y_pred``)."""
    p = np.asarray(y_pred)
    t = np.asarray(y_true)
    if t.shape != p.shape:
        t, p = same_rank(t, p)
        if t.shape != p.shape:
            t = t.reshape(p.shape)
    return t, p


def _in_top_k(labels: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """1.0 where the label's score is among the k largest of its row (ties count in, as
    Keras's ``in_top_k``; a NaN score never does)."""
    labels = labels.astype(np.int64).reshape(pred.shape[0])
    at = pred[np.arange(pred.shape[0]), labels]
    at = np.where(np.isnan(at), -np.inf, at)
    rank = 1 + np.sum(pred > at[:, None], axis=-1)
    return (rank <= k).astype(np.float64)


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    return int(k)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1.0 where the true class (argmax of one-hot ``y_true``) is in the top ``k`` scores."""
    p = as_float(y_pred, "y_pred")
    p2 = p.reshape(-1, p.shape[-1])
    labels = np.argmax(np.asarray(y_true), axis=-1).reshape(-1)
    return _in_top_k(labels, p2, _check_k(k)).reshape(p.shape[:-1])


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5,
                                      from_sorted_ids: bool = False) -> np.ndarray:
    """1.0 where the integer label is in the top ``k`` scores (or, with ``from_sorted_ids``,
    among the first ``k`` ids of ``y_pred``, which holds class ids sorted by score)."""
    k = _check_k(k)
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    if from_sorted_ids:
        return np.any(p[..., :k] == t[..., None], axis=-1).astype(np.float64)
    p = as_float(p, "y_pred")
    p2 = p.reshape(-1, p.shape[-1])
    return _in_top_k(t.reshape(-1), p2, k).reshape(p.shape[:-1])


class Accuracy(MeanMetricWrapper):
    def __init__(self, name: str = "accuracy", dtype: Any = None):
        super().__init__(accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    #: depends on y_pred only through its row argmax, so logits serve as well as probabilities
    argmax_based = True

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None):
        super().__init__(sparse_categorical_accuracy, name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is not None:
            return super().update_state(y_true, y_pred, sample_weight)
        hits = np.count_nonzero(np.argmax(y_pred, axis=-1) == _labels(y_true))
        self.total += int(hits)
        self.count += len(y_pred)


class CategoricalAccuracy(MeanMetricWrapper):
    argmax_based = True

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None):
        super().__init__(categorical_accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5):
        self.threshold = float(threshold)
        super().__init__(binary_accuracy, name, dtype, threshold=self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the true class (one-hot targets) is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None):
        self.k = _check_k(k)
        super().__init__(top_k_categorical_accuracy, name, dtype, k=self.k)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: Any = None, from_sorted_ids: bool = False):
        self.k = _check_k(k)
        self.from_sorted_ids = bool(from_sorted_ids)
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=self.k,
                         from_sorted_ids=self.from_sorted_ids)

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:
            cfg["from_sorted_ids"] = True
        return cfg




class ShapeAccuracy(MeanMetricWrapper):
    """``"accuracy"`` for a loss that does not imply the kind of targets: binary, sparse or
    categorical accuracy chosen from the first batch's shapes, by Keras's rule (one output
    column: binary; targets of lower rank or one column: sparse; else categorical)."""

    def __init__(self, name: str = "accuracy", dtype: Any = None):
        super().__init__(accuracy, name, dtype)
        self._chosen = False

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if not self._chosen:
            t, p = np.shape(y_true), np.shape(y_pred)
            if p and p[-1] == 1:
                self._fn, self._fn_kwargs = binary_accuracy, {"threshold": 0.5}
            elif p and (len(t) < len(p) or (t and t[-1] == 1 and p[-1] > 1)):
                self._fn = sparse_categorical_accuracy
            else:
                self._fn = categorical_accuracy
            self._chosen = True
        super().update_state(y_true, y_pred, sample_weight)
