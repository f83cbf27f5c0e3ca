"""Metrics: running (sample-weighted) means over batches, with Keras names.

``get("accuracy", loss)`` resolves accuracy the way Keras does: sparse-categorical for a sparse
cross-entropy loss, binary for binary cross-entropy, categorical otherwise. Losses can be used as
metrics by name (``"mse"``, ``"mean_absolute_error"``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "get", "serialize", "deserialize",
]


class Metric:
    """Stateful metric: ``update_state(y_true, y_pred, sample_weight)``, ``result()``,
    ``reset_state()``."""

    def __init__(self, name: str | None = None, dtype: Any = None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, cfg: dict) -> Metric:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Mean(Metric):
    """Weighted mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def update_state(self, values: Any, sample_weight: Any = None, *_: Any) -> None:  # type: ignore[override]
        v = np.asarray(values, dtype=np.float64).ravel()
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.size
        else:
            w = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64).ravel(), v.shape)
            self.total += float((v * w).sum())
            self.count += float(w.sum())


class MeanMetricWrapper(Metric):
    """Mean over samples of ``fn(y_true, y_pred) -> per-sample values``."""

    def __init__(self, fn: Callable[..., np.ndarray], name: str | None = None, dtype: Any = None,
                 **fn_kwargs: Any):
        self._fn = fn
        self._fn_kwargs = fn_kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"), dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        v = np.asarray(self._fn(y_true, y_pred, **self._fn_kwargs), dtype=np.float64)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.shape[0]
        else:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(v.shape[0])
            self.total += float(np.dot(v, w))
            self.count += float(w.sum())


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
    """Per-sample mean over the last axis of ``(y_pred > threshold) == y_true``."""
    p = np.asarray(y_pred)
    t = np.asarray(y_true).reshape(p.shape)
    return np.mean((p > threshold) == (t > 0.5), axis=-1, dtype=np.float64).reshape(p.shape[0])


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Exact-match accuracy (Keras's ``Accuracy``)."""
    p = np.asarray(y_pred)
    t = np.asarray(y_true).reshape(p.shape)
    eq = (p == t)
    return eq.reshape(p.shape[0], -1).mean(axis=1, dtype=np.float64)


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
        return {"name": self.name, "threshold": self.threshold}


class _LossMetric(MeanMetricWrapper):
    _loss_name = ""

    def __init__(self, name: str | None = None, dtype: Any = None):
        from fastff import losses

        loss = losses.get(self._loss_name)
        super().__init__(loss.call, name or self._loss_name, dtype)


class MeanSquaredError(_LossMetric):
    _loss_name = "mean_squared_error"


class MeanAbsoluteError(_LossMetric):
    _loss_name = "mean_absolute_error"


_CLASSES: dict[str, type[Metric]] = {c.__name__: c for c in (
    Accuracy, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy, MeanSquaredError,
    MeanAbsoluteError, Mean)}
_NAMED: dict[str, Callable[[str], Metric]] = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def _accuracy_for(loss: Any, name: str) -> Metric:
    """Keras's choice of accuracy from the loss."""
    kind = type(loss).__name__ if loss is not None else ""
    if kind == "SparseCategoricalCrossentropy":
        return SparseCategoricalAccuracy(name=name)
    if kind == "BinaryCrossentropy":
        return BinaryAccuracy(name=name)
    if kind == "CategoricalCrossentropy":
        return CategoricalAccuracy(name=name)
    return Accuracy(name=name)


def get(identifier: Any, loss: Any = None) -> Metric:
    """A fresh Metric from a name, a Metric, a Keras-style function or a config dict.

    ``"accuracy"``/``"acc"`` resolve by ``loss`` (a fastff Loss) as in Keras.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return _accuracy_for(loss, identifier)
        if key in _NAMED:
            return _NAMED[key](name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        from fastff import losses

        try:
            lo = losses.get(identifier)
        except ValueError:
            from fastff.activations import _unknown

            raise _unknown("metric", identifier,
                           ["accuracy", *list(_NAMED), *list(losses._NAMES)]) from None
        return MeanMetricWrapper(lo.call, name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metric: expected a name, Metric or function, got {identifier!r}")


def serialize(metric: Metric) -> dict:
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(cfg: dict | str, custom_objects: dict | None = None) -> Metric | str:
    if isinstance(cfg, str):
        return cfg
    name = cfg["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown metric class {name!r}: pass it in custom_objects")
    return cls.from_config(dict(cfg.get("config", {})))
