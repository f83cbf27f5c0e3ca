"""Confusion-matrix metrics (Keras's algorithms): true/false positive/negative counts,
precision, recall, sensitivity/specificity/precision/recall at a fixed other value, and the
bucketed AUC (ROC or PR, Riemann or Davis–Goadrich interpolation).

A prediction counts as positive at threshold ``t`` when ``y_pred > t``; ``y_true`` counts as
positive when nonzero. Counts are sample-weighted float64 sums, so streaming batches give the
same result as one concatenated batch. Evenly spaced thresholds (AUC's default) use Keras's
O(N + T) bucketing: ``bucket = ceil(p (T - 1)) - 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.metrics.base import Metric, as_float, same_rank

__all__ = [
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall",
    "AUC", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
    "RecallAtPrecision",
]

NEG_INF = -1e10
EPSILON = 1e-7


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` with 0 where ``b == 0`` (Keras's ``divide_no_nan``; NaN stays NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    safe = np.where(b == 0, 1.0, b)
    return np.where(b == 0, 0.0 * a, a / safe)


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x]


def parse_thresholds(thresholds: Any, default: float) -> list[float]:
    """The thresholds as a list of floats in [0, 1] (``default`` when None)."""
    if thresholds is None:
        return [float(default)]
    values = _as_list(thresholds)
    bad = [t for t in values if t is None or isinstance(t, bool) or not 0 <= float(t) <= 1]
    if bad or not values:
        raise ValueError(f"thresholds: values must be in [0, 1], got {thresholds!r}")
    return [float(t) for t in values]


def evenly_spaced(thresholds: list[float]) -> bool:
    """Are the thresholds ``i / (T - 1)`` (T ≥ 3)? Then the bucketed update applies."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _top_k_mask(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` with all but the top ``k`` entries of the last axis set to ``NEG_INF``."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, x, NEG_INF)


def _prepare(y_true: Any, y_pred: Any, sample_weight: Any, top_k: int | None,
             class_id: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels (0/1 floats), predictions and weights broadcast to the predictions' shape."""
    t = as_float(y_true, "y_true")
    p = as_float(y_pred, "y_pred")
    t, p = same_rank(t, p)
    w = None
    if sample_weight is not None:
        w = as_float(sample_weight, "sample_weight")[..., None]
        _, w = same_rank(t, w) if w.ndim > t.ndim else (t, w)
    if top_k is not None:
        p = _top_k_mask(p, top_k)
    if class_id is not None:
        if p.ndim == 1:
            raise ValueError("class_id: y_pred must have shape (samples, classes), got shape "
                             f"{p.shape}")
        if not 0 <= class_id < p.shape[-1]:
            raise ValueError(f"class_id={class_id} is outside [0, {p.shape[-1]})")
        t = t[..., class_id, None]
        p = p[..., class_id, None]
        if w is not None and w.ndim == p.ndim and w.shape[-1] not in (1, p.shape[-1]):
            w = w[..., class_id, None]
    try:
        t = np.broadcast_to(t, p.shape)
    except ValueError:
        raise ValueError(f"y_true: shape {np.shape(y_true)} does not match y_pred's "
                         f"{np.shape(y_pred)}") from None
    t = (t != 0).astype(np.float64)
    if w is not None:
        try:
            w = np.broadcast_to(w, p.shape)
        except ValueError:
            raise ValueError(f"sample_weight: shape {np.shape(sample_weight)} does not "
                             f"broadcast to y_pred's {p.shape}") from None
    return t, p, w


def confusion_counts(y_true: Any, y_pred: Any, thresholds: Any, sample_weight: Any = None,
                     top_k: int | None = None, class_id: int | None = None,
                     multi_label: bool = False, label_weights: Any = None,
                     evenly: bool = False) -> tuple[np.ndarray, ...]:
    """Weighted ``(tp, fp, tn, fn)`` per threshold, each of shape ``(T,)`` or, with
    ``multi_label``, ``(T, labels)``. NaN predictions make every count NaN."""
    thr = np.asarray(thresholds, dtype=np.float64)
    t, p, w = _prepare(y_true, y_pred, sample_weight, top_k, class_id)
    weight = np.ones(p.shape) if w is None else np.asarray(w, dtype=np.float64)
    if label_weights is not None and not multi_label:
        weight = weight * np.broadcast_to(np.asarray(label_weights, dtype=np.float64), p.shape)
    if multi_label:
        p2 = p.reshape(-1, p.shape[-1]) if p.ndim > 1 else p.reshape(-1, 1)
        t2, w2 = t.reshape(p2.shape), weight.reshape(p2.shape)
    else:
        p2, t2, w2 = p.reshape(-1, 1), t.reshape(-1, 1), weight.reshape(-1, 1)
    pos = t2 * w2
    neg = (1.0 - t2) * w2
    n_thr = thr.shape[0]
    if evenly:
        with_eps = bool(thr[0] < 0.0 or thr[-1] > 1.0)
        pc = np.clip(p2, 0.0, 1.0)
        bucket = np.ceil(pc * (n_thr - 1)) - 1
        if with_eps:
            bucket = np.maximum(bucket, 0)
        bucket = np.nan_to_num(bucket, nan=-1).astype(np.int64)
        tp = np.zeros((n_thr, p2.shape[1]))
        fp = np.zeros((n_thr, p2.shape[1]))
        for j in range(p2.shape[1]):
            ok = bucket[:, j] >= 0
            tp[:, j] = np.bincount(bucket[ok, j], pos[ok, j], minlength=n_thr)[:n_thr]
            fp[:, j] = np.bincount(bucket[ok, j], neg[ok, j], minlength=n_thr)[:n_thr]
        tp = np.cumsum(tp[::-1], axis=0)[::-1]
        fp = np.cumsum(fp[::-1], axis=0)[::-1]
    else:
        above = p2[None, :, :] > thr[:, None, None]
        tp = np.sum(above * pos[None], axis=1)
        fp = np.sum(above * neg[None], axis=1)
    fn = pos.sum(axis=0)[None, :] - tp
    tn = neg.sum(axis=0)[None, :] - fp
    out = (tp, fp, tn, fn)
    if np.isnan(p2).any():
        out = tuple(np.full_like(a, np.nan) for a in out)
    if not multi_label:
        out = tuple(a[:, 0] for a in out)
    return out


def _check_int(value: Any, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


class _ConfusionMetric(Metric):
    """Keeps weighted tp/fp/tn/fn per threshold."""

    thresholds: list[float]

    def _setup(self, thresholds: Any, top_k: Any = None, class_id: Any = None,
               default: float = 0.5) -> None:
        self.init_thresholds = thresholds
        self.top_k = _check_int(top_k, "top_k", 1)
        self.class_id = _check_int(class_id, "class_id", 0)
        default = default if self.top_k is None else NEG_INF
        self.thresholds = (parse_thresholds(thresholds, 0.5) if thresholds is not None
                           else [default])
        self._evenly = evenly_spaced(self.thresholds)

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                          self.top_k, self.class_id, evenly=self._evenly)
        self.true_positives = self.true_positives + tp
        self.false_positives = self.false_positives + fp
        self.true_negatives = self.true_negatives + tn
        self.false_negatives = self.false_negatives + fn

    def _one(self, values: np.ndarray) -> Any:
        return float(values[0]) if len(self.thresholds) == 1 else np.asarray(values)


class _Count(_ConfusionMetric):
    _field = ""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None):
        self._setup(thresholds)
        super().__init__(name, dtype)

    def result(self) -> Any:
        return self._one(getattr(self, self._field))

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_Count):
    """Weighted count of positives predicted above the threshold (default 0.5)."""

    _field = "true_positives"


class FalsePositives(_Count):
    """Weighted count of negatives predicted above the threshold (default 0.5)."""

    _field = "false_positives"


class TrueNegatives(_Count):
    """Weighted count of negatives predicted at or below the threshold (default 0.5)."""

    _field = "true_negatives"


class FalseNegatives(_Count):
    """Weighted count of positives predicted at or below the threshold (default 0.5)."""

    _field = "false_negatives"


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` (0 when nothing is predicted positive); with ``top_k`` only the k
    highest scores of each row count as predicted, with ``class_id`` only that column."""

    def __init__(self, thresholds: Any = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None):
        self._setup(thresholds, top_k, class_id)
        super().__init__(name, dtype)

    def result(self) -> Any:
        return self._one(_divide_no_nan(self.true_positives,
                                        self.true_positives + self.false_positives))

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """``tp / (tp + fn)`` (0 without positives); ``top_k``/``class_id`` as in Precision."""

    def result(self) -> Any:
        return self._one(_divide_no_nan(self.true_positives,
                                        self.true_positives + self.false_negatives))


class _AtValue(_ConfusionMetric):
    """Best value of one rate where another rate meets a constraint (Keras's
    ``SensitivitySpecificityBase``), over ``num_thresholds`` even thresholds."""

    _arg = ""

    def __init__(self, value: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None):
        if isinstance(value, bool) or not 0 <= float(value) <= 1:
            raise ValueError(f"{self._arg}: expected a value in [0, 1], got {value!r}")
        n = _check_int(num_thresholds, "num_thresholds", 1)
        self.value = float(value)
        self.num_thresholds = n
        self.class_id = _check_int(class_id, "class_id", 0)
        self.top_k = None
        self.init_thresholds = None
        if n == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1.0]
            self._evenly = True
        super().__init__(name, dtype)

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        return {"sensitivity": _divide_no_nan(tp, tp + fn),
                "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def _best(self, constrained: np.ndarray, dependent: np.ndarray) -> float:
        feasible = constrained >= self.value
        return float(np.max(dependent[feasible])) if feasible.any() else 0.0

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                self._arg: self.value, "class_id": self.class_id}


class SensitivityAtSpecificity(_AtValue):
    """Best sensitivity (recall) where specificity ≥ ``specificity``."""

    _arg = "specificity"

    def __init__(self, specificity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        r = self._rates()
        return self._best(r["specificity"], r["sensitivity"])


class SpecificityAtSensitivity(_AtValue):
    """Best specificity where sensitivity (recall) ≥ ``sensitivity``."""

    _arg = "sensitivity"

    def __init__(self, sensitivity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        r = self._rates()
        return self._best(r["sensitivity"], r["specificity"])


class PrecisionAtRecall(_AtValue):
    """Best precision where recall ≥ ``recall``."""

    _arg = "recall"

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        r = self._rates()
        return self._best(r["sensitivity"], r["precision"])


class RecallAtPrecision(_AtValue):
    """Best recall where precision ≥ ``precision``."""

    _arg = "precision"

    def __init__(self, precision: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        r = self._rates()
        return self._best(r["precision"], r["sensitivity"])


_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionMetric):
    """Area under the ROC or PR curve from bucketed confusion counts (Keras's algorithm).

    ``num_thresholds - 2`` even thresholds in (0, 1) plus ``-ε`` and ``1 + ε``; ROC uses the
    trapezoid rule over (FPR, TPR), PR with ``"interpolation"`` integrates precision with TP
    and FP interpolated linearly between thresholds (Davis & Goadrich 2006).
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None,
                 dtype: Any = None, thresholds: Any = None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights: Any = None,
                 from_logits: bool = False):
        if not isinstance(curve, str) or curve.lower() not in _CURVES:
            raise ValueError(f"curve: expected 'ROC' or 'PR', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in _SUMMATIONS:
            raise ValueError(f"summation_method: expected one of {list(_SUMMATIONS)}, got "
                             f"{summation_method!r}")
        self.curve = _CURVES[curve.lower()]
        self.summation_method = summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0, *inner, 1.0])
        else:
            n = _check_int(num_thresholds, "num_thresholds", 2)
            self.num_thresholds = n
            inner = [(i + 1) / (n - 1) for i in range(n - 2)]
            self._evenly = True
        self.thresholds = [0.0 - EPSILON, *inner, 1.0 + EPSILON]
        self.multi_label = bool(multi_label)
        self.num_labels = _check_int(num_labels, "num_labels", 1)
        if self.num_labels is not None and not self.multi_label:
            raise ValueError("num_labels is needed only when multi_label is True")
        self.label_weights = (None if label_weights is None
                              else np.asarray(label_weights, dtype=np.float64))
        self.from_logits = bool(from_logits)
        self.top_k = self.class_id = None
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        shape: tuple[int, ...] = (self.num_thresholds,)
        if self.multi_label:
            if self.num_labels is None:  # shaped by the first update
                self.true_positives = self.false_positives = None  # type: ignore[assignment]
                self.true_negatives = self.false_negatives = None  # type: ignore[assignment]
                return
            shape = (self.num_thresholds, self.num_labels)
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        p = as_float(y_pred, "y_pred")
        if self.multi_label and p.ndim != 2:
            raise ValueError(f"AUC(multi_label=True): y_pred must have rank 2, got shape "
                             f"{p.shape}")
        if self.from_logits:
            with np.errstate(over="ignore"):
                p = 1.0 / (1.0 + np.exp(-p))
        counts = confusion_counts(
            y_true, p, self.thresholds, sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights, evenly=self._evenly)
        if self.true_positives is None:
            self.num_labels_seen = p.shape[1]
            self.true_positives, self.false_positives, self.true_negatives, \
                self.false_negatives = (np.zeros_like(c) for c in counts)
        self.true_positives = self.true_positives + counts[0]
        self.false_positives = self.false_positives + counts[1]
        self.true_negatives = self.true_negatives + counts[2]
        self.false_negatives = self.false_negatives + counts[3]

    def _average(self, by_label: np.ndarray) -> float:
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        lw = self.label_weights
        return float(_divide_no_nan(np.sum(by_label * lw), np.sum(lw)))

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(both, ratio, 1.0))
        inc = _divide_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return self._average(np.sum(inc, axis=0))

    def result(self) -> float:
        if self.true_positives is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(np.sum((x[:-1] - x[1:]) * heights, axis=0))

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "num_thresholds": self.num_thresholds,
               "curve": self.curve, "summation_method": self.summation_method,
               "multi_label": self.multi_label, "num_labels": self.num_labels,
               "label_weights": None if self.label_weights is None
               else self.label_weights.tolist(),
               "from_logits": self.from_logits}
        if self._init_from_thresholds:
            cfg["thresholds"] = self.thresholds[1:-1]
        return cfg
