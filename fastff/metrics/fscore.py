"""F-beta and F1 scores over predicted classes (a threshold or each row's argmax)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.metrics.base import Metric, as_float

__all__ = ["FBetaScore", "F1Score"]

EPSILON = 1e-7
_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """``(1 + β²) P R / (β² P + R)`` per class (``average=None``), or averaged: ``"micro"``
    (global counts), ``"macro"`` (unweighted mean) or ``"weighted"`` (by support).

    With ``threshold=None`` each row's maximum (if nonzero) is the predicted class; otherwise
    scores above ``threshold`` are. Inputs are ``(samples, classes)``.
    """

    def __init__(self, average: str | None = None, beta: float = 1.0,
                 threshold: float | None = None, name: str = "fbeta_score", dtype: Any = None):
        if average not in _AVERAGES:
            raise ValueError(f"average: expected one of {list(_AVERAGES)}, got {average!r}")
        if not isinstance(beta, float):
            raise ValueError(f"beta: expected a Python float, got {beta!r} of type "
                             f"{type(beta).__name__}")
        if beta <= 0.0:
            raise ValueError(f"beta: expected a value > 0, got {beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"threshold: expected a Python float, got {threshold!r}")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold: expected 0 < threshold <= 1, got {threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self.true_positives: Any = None
        self.false_positives: Any = None
        self.false_negatives: Any = None
        self.intermediate_weights: Any = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t = as_float(y_true, "y_true")
        p = as_float(y_pred, "y_pred")
        if t.ndim != 2 or p.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects 2-D inputs (samples, classes); got "
                             f"y_true.shape={t.shape}, y_pred.shape={p.shape}")
        if t.shape != p.shape:
            raise ValueError(f"y_true: shape {t.shape} does not match y_pred's {p.shape}")
        if self.threshold is None:
            top = np.max(p, axis=-1, keepdims=True)
            pred = ((p >= top) & (np.abs(p) > 1e-9)).astype(np.float64)
        else:
            pred = (p > self.threshold).astype(np.float64)
        w = None if sample_weight is None else as_float(sample_weight, "sample_weight").reshape(
            -1, 1)
        axis = None if self.average == "micro" else 0

        def wsum(v: np.ndarray) -> np.ndarray:
            return np.sum(v if w is None else v * w, axis=axis)

        parts = (wsum(pred * t), wsum(pred * (1 - t)), wsum((1 - pred) * t), wsum(t))
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives, \
                self.intermediate_weights = parts
        else:
            self.true_positives = self.true_positives + parts[0]
            self.false_positives = self.false_positives + parts[1]
            self.false_negatives = self.false_negatives + parts[2]
            self.intermediate_weights = self.intermediate_weights + parts[3]

    def result(self) -> Any:
        if self.true_positives is None:
            return 0.0
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + EPSILON)
            return float(np.sum(score * weights))
        if self.average is not None:
            return float(np.mean(score))
        return np.asarray(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F-beta score with β = 1: the harmonic mean of precision and recall."""

    def __init__(self, average: str | None = None, threshold: float | None = None,
                 name: str = "f1_score", dtype: Any = None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["beta"]
        return cfg
