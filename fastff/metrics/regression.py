"""Regression and probabilistic metrics: means of Keras's per-sample loss functions, the root
mean squared error and the R² score."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fastff import losses
from fastff.metrics.base import Mean, MeanMetricWrapper, Metric, as_float, same_rank

__all__ = [
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "RootMeanSquaredError", "CosineSimilarity", "LogCoshError",
    "R2Score", "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
    "cosine_similarity",
]


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """Per-sample ``Σ l2_normalize(y_true) · l2_normalize(y_pred)`` along ``axis``."""
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


class _FunctionMean(MeanMetricWrapper):
    """Mean of a loss function form, configured by the keyword arguments named in ``_keys``."""

    _fn: Any = None
    _default_name = ""
    _keys: tuple[str, ...] = ()

    def __init__(self, name: str | None = None, dtype: Any = None, **kwargs: Any):
        for key in self._keys:
            setattr(self, key, kwargs[key])
        super().__init__(type(self)._fn, name or self._default_name, dtype, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **{k: getattr(self, k) for k in self._keys}}


def _metric(fn: Any, default_name: str, doc: str) -> type[_FunctionMean]:
    """A ``name``/``dtype``-only metric class averaging ``fn`` (one definition per metric)."""

    class _M(_FunctionMean):
        __doc__ = doc
        _fn = staticmethod(fn)
        _default_name = default_name

        def __init__(self, name: str = default_name, dtype: Any = None):
            super().__init__(name, dtype)

    return _M


MeanSquaredError = _metric(losses.mean_squared_error, "mean_squared_error",
                           "Mean of ``mean((y_true - y_pred)²)`` over samples.")
MeanAbsoluteError = _metric(losses.mean_absolute_error, "mean_absolute_error",
                            "Mean of ``mean(|y_true - y_pred|)`` over samples.")
MeanAbsolutePercentageError = _metric(
    losses.mean_absolute_percentage_error, "mean_absolute_percentage_error",
    "Mean of ``100 mean(|y_true - y_pred| / max(|y_true|, ε))`` over samples.")
MeanSquaredLogarithmicError = _metric(
    losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
    "Mean of ``mean((log(max(y_pred, ε) + 1) - log(max(y_true, ε) + 1))²)`` over samples.")
LogCoshError = _metric(losses.log_cosh, "logcosh",
                       "Mean of ``mean(log(cosh(y_pred - y_true)))`` over samples.")
KLDivergence = _metric(losses.kl_divergence, "kl_divergence",
                       "Mean of ``Σ y_true log(y_true / y_pred)`` (both clipped to [ε, 1]).")
Poisson = _metric(losses.poisson, "poisson",
                  "Mean of ``mean(y_pred - y_true log(y_pred + ε))`` over samples.")
Hinge = _metric(losses.hinge, "hinge", "Mean of ``mean(max(1 - y_true y_pred, 0))``.")
SquaredHinge = _metric(losses.squared_hinge, "squared_hinge",
                       "Mean of ``mean(max(1 - y_true y_pred, 0)²)``.")
CategoricalHinge = _metric(losses.categorical_hinge, "categorical_hinge",
                           "Mean of ``max(max((1 - y_true) y_pred) - Σ y_true y_pred + 1, 0)``.")
for _cls, _n in ((MeanSquaredError, "MeanSquaredError"), (MeanAbsoluteError, "MeanAbsoluteError"),
                 (MeanAbsolutePercentageError, "MeanAbsolutePercentageError"),
                 (MeanSquaredLogarithmicError, "MeanSquaredLogarithmicError"),
                 (LogCoshError, "LogCoshError"), (KLDivergence, "KLDivergence"),
                 (Poisson, "Poisson"), (Hinge, "Hinge"), (SquaredHinge, "SquaredHinge"),
                 (CategoricalHinge, "CategoricalHinge")):
    _cls.__name__ = _cls.__qualname__ = _n


class CosineSimilarity(_FunctionMean):
    """Mean cosine similarity between ``y_true`` and ``y_pred`` along ``axis``."""

    _fn = staticmethod(cosine_similarity)
    _default_name = "cosine_similarity"
    _keys = ("axis",)

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1):
        super().__init__(name, dtype, axis=axis)


class BinaryCrossentropy(_FunctionMean):
    """Mean binary cross-entropy (as the loss of the same name)."""

    _fn = staticmethod(losses.binary_crossentropy)
    _keys = ("from_logits", "label_smoothing")

    def __init__(self, name: str = "binary_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_FunctionMean):
    """Mean categorical cross-entropy (as the loss of the same name)."""

    _fn = staticmethod(losses.categorical_crossentropy)
    _keys = ("from_logits", "label_smoothing")

    def __init__(self, name: str = "categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)
        self.axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class SparseCategoricalCrossentropy(_FunctionMean):
    """Mean sparse categorical cross-entropy (as the loss of the same name)."""

    _fn = staticmethod(losses.sparse_categorical_crossentropy)
    _keys = ("from_logits",)

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, axis: int = -1):
        super().__init__(name, dtype, from_logits=from_logits)
        self.axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean squared error over all samples seen."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None):
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        t, p = same_rank(as_float(y_true, "y_true"), as_float(y_pred, "y_pred"))
        super().update_state(np.square(p - t), sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """Coefficient of determination ``1 - SS_res / SS_tot`` per output column, aggregated by
    ``class_aggregation`` (``"uniform_average"``, ``"variance_weighted_average"`` or None);
    ``num_regressors > 0`` gives the adjusted R²."""

    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation: str | None = "uniform_average",
                 num_regressors: int = 0, name: str = "r2_score", dtype: Any = None):
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"class_aggregation: expected one of {list(self._AGGREGATIONS)}, "
                             f"got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"num_regressors: expected a value >= 0, got {num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self.num_samples = 0.0
        self.sum: Any = None
        self.squared_sum: Any = None
        self.total_mse: Any = None
        self.count: Any = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t, p = same_rank(as_float(y_true, "y_true"), as_float(y_pred, "y_pred"))
        if t.ndim != 2 or p.ndim != 2:
            raise ValueError("R2Score expects 2-D inputs (samples, outputs); got "
                             f"y_true.shape={t.shape}, y_pred.shape={p.shape}")
        w = np.ones(()) if sample_weight is None else as_float(sample_weight, "sample_weight")
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, t.shape)
        parts = (np.sum(t * w, axis=0), np.sum(t * t * w, axis=0),
                 np.sum((t - p) ** 2 * w, axis=0), np.sum(w, axis=0))
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = parts
        else:
            self.sum = self.sum + parts[0]
            self.squared_sum = self.squared_sum + parts[1]
            self.total_mse = self.total_mse + parts[2]
            self.count = self.count + parts[3]
        self.num_samples += float(t.size)

    def result(self) -> Any:
        if self.sum is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score: Any = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(total * raw) / np.sum(total))
        else:
            score = raw
        if self.num_regressors:
            n, k = self.num_samples, self.num_regressors
            if k >= n - 1:
                warnings.warn("adjusted R2: more independent predictors than datapoints (or "
                              "as many minus one); falling back to the standard R2 score",
                              stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - k - 1.0)
        return score

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
