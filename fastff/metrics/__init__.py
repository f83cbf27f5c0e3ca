"""Metrics with Keras's classes, string names and History keys.

``get("accuracy", loss)`` resolves accuracy the way Keras does (sparse-categorical for a sparse
cross-entropy loss, binary for binary cross-entropy, categorical otherwise). A metric given as a
string is named by that string (``"mse"`` logs as ``"mse"``, ``"auc"`` as ``"auc"``), as in
Keras 3; a metric object keeps its name, and unnamed ones are numbered (``auc``, ``auc_1``).
Class names and their snake-case forms (``"Precision"``, ``"precision"``,
``"top_k_categorical_accuracy"``, ``"r2_score"``) and ``mse``/``mae``/``mape``/``msle``/``bce``
are accepted, plus any loss name (its per-sample mean).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastff._registry import get_registered_object, registered_name_of
from fastff.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from fastff.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    ShapeAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from fastff.metrics.base import (
    Mean,
    MeanMetricWrapper,
    Metric,
    MetricVariable,
    Sum,
    reset_names,
    snake_case,
)
from fastff.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from fastff.metrics.fscore import F1Score, FBetaScore
from fastff.metrics.regression import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    cosine_similarity,
)

__all__ = [
    "Metric", "MetricVariable", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
    "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "TruePositives", "FalsePositives", "TrueNegatives",
    "FalseNegatives", "Precision", "Recall", "AUC", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision", "F1Score",
    "FBetaScore", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "RootMeanSquaredError", "CosineSimilarity", "LogCoshError",
    "R2Score", "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "cosine_similarity",
    "get", "serialize", "deserialize", "reset_names",
    # Keras's function forms, shared with fastff.losses
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy",
    "squared_hinge",
]

_CLASSES: dict[str, type[Metric]] = {c.__name__: c for c in (
    Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, TruePositives, FalsePositives,
    TrueNegatives, FalseNegatives, Precision, Recall, AUC, SensitivityAtSpecificity,
    SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision, F1Score, FBetaScore,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, CosineSimilarity, LogCoshError, R2Score,
    KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Hinge, SquaredHinge, CategoricalHinge)}
#: Keras's string keys: snake-case class names plus the short aliases
_NAMED: dict[str, type[Metric]] = {snake_case(n): c for n, c in _CLASSES.items()}
_NAMED.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError,
               "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
               "bce": BinaryCrossentropy})


def _accuracy_for(loss: Any, name: str) -> Metric:
    """Keras's choice of accuracy: from the loss where it implies the targets (which lets the
    compiled path hand argmax-based metrics the logits), else from the first batch's shapes."""
    from fastff import losses

    loss = getattr(loss, "base", loss)  # a loss scaled by compile's loss_weights
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)):
        return BinaryAccuracy(name=name)
    if isinstance(loss, (losses.CategoricalCrossentropy, losses.CategoricalFocalCrossentropy,
                         losses.KLDivergence)):
        return CategoricalAccuracy(name=name)
    if loss is None:
        return Accuracy(name=name)
    return ShapeAccuracy(name=name)


def _from_string(identifier: str, loss: Any) -> Metric:
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        return _accuracy_for(loss, identifier)
    cls = _CLASSES.get(identifier) or _NAMED.get(key)
    if cls is not None:
        return cls(name=identifier)
    from fastff import losses

    try:
        lo = losses.get(identifier)
    except ValueError:
        from fastff.activations import _unknown

        raise _unknown("metric", identifier, ["accuracy", *_NAMED, *losses._NAMES]) from None
    return MeanMetricWrapper(lo.call, name=identifier)


def get(identifier: Any, loss: Any = None) -> Metric:
    """A Metric from a name, a Metric (returned as is), a Metric class, a Keras-style function
    ``fn(y_true, y_pred)`` or a config dict. ``"accuracy"``/``"acc"`` resolve by ``loss``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _from_string(identifier, loss)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metric: expected a name, Metric or function, got {identifier!r}")


def serialize(metric: Metric) -> dict | str:
    """A config dict; a metric function is saved by its (registered) name, as Keras."""
    fn = getattr(metric, "_fn", None)
    if type(metric) is MeanMetricWrapper and inspect.isfunction(fn) and not metric._fn_kwargs \
            and metric.name == fn.__name__:
        return registered_name_of(fn) or fn.__name__
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(cfg: dict | str, custom_objects: dict | None = None) -> Any:
    """A Metric (or a function) from a config; a string stays a name unless
    ``custom_objects`` or the registry (``fastff.saving.register_serializable``) knows it."""
    if isinstance(cfg, str):
        obj = get_registered_object(cfg, custom_objects)
        return cfg if obj is None else obj
    name = cfg["class_name"]
    cls: Callable[..., Metric] | None = (get_registered_object(name, custom_objects)
                                         or _CLASSES.get(name))
    if cls is None:
        raise ValueError(f"Unknown metric class {name!r}: pass it in custom_objects={{{name!r}: "
                         "...}} or register it with @fastff.saving.register_serializable()")
    return cls.from_config(dict(cfg.get("config", {})))
