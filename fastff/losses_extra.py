"""More Keras losses: focal cross-entropies, KL divergence, Poisson, log-cosh, hinges, cosine
similarity, MSLE and MAPE (classes and function forms).

Each value follows Keras 3's formula (``ε = 1e-7`` where Keras clips); each ``forward`` also
returns the exact gradient of the weighted batch mean. The focal losses and KL divergence fuse
with a softmax/sigmoid output: given logits they use ``log_softmax``/``log_sigmoid``, which
agree with Keras's clipped probabilities wherever ``p`` is inside ``[ε, 1 − ε]`` and stay finite
and informative beyond it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.loss_base import EPSILON, Loss, _finish, _weights, on_host

__all__ = [
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "KLDivergence", "Poisson",
    "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "CosineSimilarity",
    "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError", "binary_focal_crossentropy",
    "categorical_focal_crossentropy", "kl_divergence", "poisson", "log_cosh", "hinge",
    "squared_hinge", "categorical_hinge", "cosine_similarity", "mean_squared_logarithmic_error",
    "mean_absolute_percentage_error",
]

LOG2 = float(np.log(2.0))


def _columns(y: Any) -> np.ndarray:
    y = np.asarray(y)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    d = z - np.max(z, axis=1, keepdims=True)
    return d - np.log(np.sum(np.exp(d), axis=1, keepdims=True))


def _smooth(t: np.ndarray, ls: float, towards: float) -> np.ndarray:
    return t if not ls else t * (1.0 - ls) + ls * towards


def _check_fraction(value: Any, what: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: {what} must be a float in [0, 1], got {value!r}")
    return float(value)


def _check_axis(axis: Any, owner: str) -> int:
    if axis not in (-1, 1):
        raise ValueError(f"{owner}: only axis=-1 (the features axis) is supported, got "
                         f"axis={axis!r}")
    return axis


class _Elementwise(Loss):
    """``mean`` over the last axis of an elementwise loss ``f(p, t)`` with derivative
    ``f'(p, t)``; subclasses give ``_elements(p, t) -> (f, f')``."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        super().__init__(name, reduction)

    def prepare_targets(self, y, dtype):
        return np.ascontiguousarray(_columns(y), dtype=dtype)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        p = y_pred
        t = np.asarray(y_true, dtype=p.dtype).reshape(p.shape)
        elem, d = self._elements(p, t)
        per_row = np.mean(elem, axis=1)
        g = d * (_weights(p.shape[0], sample_weight, p.dtype) / p.shape[1])
        return _finish(per_row, g, dy, p.dtype)


class MeanAbsolutePercentageError(_Elementwise):
    """``100 · mean(|y_true − y_pred| / max(|y_true|, ε))``."""

    def __init__(self, reduction: str = "sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error", dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        scale = 100.0 / np.maximum(np.abs(t), EPSILON)
        return np.abs(t - p) * scale, np.sign(p - t) * scale


class MeanSquaredLogarithmicError(_Elementwise):
    """``mean((log(max(y_pred, ε) + 1) − log(max(y_true, ε) + 1))²)``."""

    def __init__(self, reduction: str = "sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error", dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        diff = np.log(np.maximum(p, EPSILON) + 1.0) - np.log(np.maximum(t, EPSILON) + 1.0)
        return diff * diff, np.where(p > EPSILON, 2.0 * diff / (p + 1.0), 0.0)


class LogCosh(_Elementwise):
    """``mean(log(cosh(y_pred − y_true)))``, computed as ``x + softplus(−2x) − log 2``."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "log_cosh",
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        x = p - t
        return x + _softplus(-2.0 * x) - LOG2, np.tanh(x)


class Poisson(_Elementwise):
    """``mean(y_pred − y_true · log(y_pred + ε))``."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "poisson",
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        with np.errstate(divide="ignore", invalid="ignore"):
            return p - t * np.log(p + EPSILON), 1.0 - t / (p + EPSILON)


def _hinge_labels(t: np.ndarray) -> np.ndarray:
    """Keras: labels that are all 0/1 become −1/+1; others are used as given."""
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


class Hinge(_Elementwise):
    """``mean(max(1 − y_true · y_pred, 0))`` with −1/+1 labels (0/1 labels are converted)."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "hinge",
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        s = _hinge_labels(t)
        margin = 1.0 - s * p
        return np.maximum(margin, 0.0), np.where(margin > 0, -s, 0.0)


class SquaredHinge(_Elementwise):
    """``mean(max(1 − y_true · y_pred, 0)²)`` with −1/+1 labels (0/1 labels are converted)."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "squared_hinge",
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _elements(self, p, t):
        s = _hinge_labels(t)
        h = np.maximum(1.0 - s * p, 0.0)
        return h * h, -2.0 * s * h


class _RowLoss(Loss):
    """A loss of each whole row; subclasses give ``_rows(p, t) -> (per_row, d per_row/dp)``."""

    target_kind = "real"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        super().__init__(name, reduction)

    def prepare_targets(self, y, dtype):
        return np.ascontiguousarray(_columns(y), dtype=dtype)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        p = y_pred
        t = np.asarray(y_true, dtype=p.dtype).reshape(p.shape)
        per_row, d = self._rows(p, t)
        return _finish(per_row, d * _weights(p.shape[0], sample_weight, p.dtype), dy, p.dtype)


class CategoricalHinge(_RowLoss):
    """``max(max((1 − y_true) · y_pred) − Σ y_true · y_pred + 1, 0)`` per row."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "categorical_hinge",
                 dtype: Any = None):
        super().__init__(reduction, name, dtype)

    def _rows(self, p, t):
        pos = np.sum(t * p, axis=1)
        other = (1.0 - t) * p
        j = np.argmax(other, axis=1)
        rows = np.arange(p.shape[0])
        loss = np.maximum(other[rows, j] - pos + 1.0, 0.0)
        g = -t.copy()
        g[rows, j] += 1.0 - t[rows, j]
        return loss, g * (loss > 0)[:, None]


def _l2_normalize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x / max(‖x‖, ε)`` along the last axis (Keras's ``normalize``) and that divisor."""
    norm = np.maximum(np.sqrt(np.sum(x * x, axis=1, keepdims=True)), EPSILON)
    return x / norm, norm


class CosineSimilarity(_RowLoss):
    """``−Σ l2_normalize(y_true) · l2_normalize(y_pred)`` along ``axis`` (−1: orthogonal 0,
    aligned −1)."""

    def __init__(self, axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str = "cosine_similarity", dtype: Any = None):
        self.axis = _check_axis(axis, "CosineSimilarity")
        super().__init__(reduction, name, dtype)

    def _rows(self, p, t):
        th, _ = _l2_normalize(t)
        ph, norm = _l2_normalize(p)
        cos = np.sum(th * ph, axis=1, keepdims=True)
        unclipped = norm > EPSILON
        g = np.where(unclipped, -(th - cos * ph) / norm, -th / EPSILON)
        return -cos[:, 0], g

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class KLDivergence(Loss):
    """``Σ y_true · log(y_true / y_pred)`` with both clipped to ``[ε, 1]``; fuses with a
    softmax output (``log y_pred`` from ``log_softmax``, floored at ``log ε``)."""

    fuses_with = "softmax"
    target_kind = "probs"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "kl_divergence",
                 dtype: Any = None):
        super().__init__(name, reduction)

    def prepare_targets(self, y, dtype):
        return np.ascontiguousarray(_columns(y), dtype=dtype)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        p = y_pred
        tc = np.clip(np.asarray(y_true, dtype=p.dtype).reshape(p.shape), EPSILON, 1.0)
        pc = np.clip(p, EPSILON, 1.0)
        per_row = np.sum(tc * np.log(tc / pc), axis=1)
        inside = (p > EPSILON) & (p < 1.0)
        g = np.where(inside, -tc / np.where(inside, p, 1.0), 0.0)
        return _finish(per_row, g * _weights(p.shape[0], sample_weight, p.dtype), dy, p.dtype)

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return on_host(ops, self._from_logits, logits, y_true, sample_weight, dlogits)

    def _from_logits(self, z, y_true, sample_weight, dlogits):
        tc = np.clip(np.asarray(y_true, dtype=z.dtype).reshape(z.shape), EPSILON, 1.0)
        lp = _log_softmax(z)
        inside = lp > np.log(EPSILON)
        per_row = np.sum(tc * (np.log(tc) - np.where(inside, lp, np.log(EPSILON))), axis=1)
        u = np.where(inside, tc, 0.0)
        g = np.exp(lp) * np.sum(u, axis=1, keepdims=True) - u
        return _finish(per_row, g * _weights(z.shape[0], sample_weight, z.dtype), dlogits,
                       z.dtype)


def _focal_power(q: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """``q^γ`` and its derivative ``γ q^(γ−1)`` (0 at q = 0 when γ > 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.power(q, gamma)
        deriv = np.where(q > 0, gamma * np.power(np.where(q > 0, q, 1.0), gamma - 1.0),
                         0.0 if gamma > 1 else (1.0 if gamma == 1 else np.inf))
    return power, deriv


class BinaryFocalCrossentropy(Loss):
    """Focal binary cross-entropy: ``mean((1 − p_t)^γ · bce)`` over the last axis, with
    ``p_t = t·p + (1 − t)(1 − p)``; ``apply_class_balancing`` weights class 1 by ``alpha`` and
    class 0 by ``1 − alpha``; labels are smoothed towards 0.5 first."""

    target_kind = "probs"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25,
                 gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str = "binary_focal_crossentropy", dtype: Any = None):
        owner = "BinaryFocalCrossentropy"
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = float(alpha)
        if float(gamma) < 0:
            raise ValueError(f"{owner}: gamma must be >= 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_fraction(label_smoothing, "label_smoothing", owner)
        self.axis = _check_axis(axis, owner)
        super().__init__(name, reduction)

    @property
    def fuses_with(self) -> str | None:  # type: ignore[override]
        return None if self.from_logits else "sigmoid"

    def prepare_targets(self, y, dtype):
        return np.ascontiguousarray(_columns(y), dtype=dtype)

    def _parts(self, p, t):
        """Per element: focal factor F, its derivative in p, and the class weight."""
        q = 1.0 - (t * p + (1.0 - t) * (1.0 - p))  # 1 − p_t, dq/dp = 1 − 2t
        f, df = _focal_power(q, self.gamma)
        wgt = t * self.alpha + (1.0 - t) * (1.0 - self.alpha) if self.apply_class_balancing \
            else 1.0
        return f, df * (1.0 - 2.0 * t), wgt

    def _reduce(self, elem, g, sample_weight, dy, dtype):
        c = elem.shape[1]
        g = g * (_weights(elem.shape[0], sample_weight, dtype) / c)
        return _finish(np.mean(elem, axis=1), g, dy, dtype)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        if self.from_logits:
            return self.forward_logits(ops, y_pred, y_true, sample_weight, dy)
        p = y_pred
        t = _smooth(np.asarray(y_true, dtype=p.dtype).reshape(p.shape), self.label_smoothing,
                    0.5)
        pc = np.clip(p, EPSILON, 1.0 - EPSILON)
        bce = -(t * np.log(pc) + (1.0 - t) * np.log(1.0 - pc))
        inside = (p > EPSILON) & (p < 1.0 - EPSILON)
        dbce = np.where(inside, (pc - t) / (pc * (1.0 - pc)), 0.0)
        f, df, wgt = self._parts(p, t)
        return self._reduce(wgt * f * bce, wgt * (df * bce + f * dbce), sample_weight, dy,
                            p.dtype)

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return on_host(ops, self._from_logits, logits, y_true, sample_weight, dlogits)

    def _from_logits(self, z, y_true, sample_weight, dlogits):
        t = _smooth(np.asarray(y_true, dtype=z.dtype).reshape(z.shape), self.label_smoothing,
                    0.5)
        p = _sigmoid(z)
        bce = _softplus(z) - t * z  # −(t log σ(z) + (1 − t) log(1 − σ(z)))
        f, df, wgt = self._parts(p, t)
        g = wgt * (df * p * (1.0 - p) * bce + f * (p - t))
        return self._reduce(wgt * f * bce, g, sample_weight, dlogits, z.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalFocalCrossentropy(Loss):
    """Focal categorical cross-entropy: ``Σ α (1 − p)^γ · (−t log p)`` per row with ``p`` the
    row-normalized, ``[ε, 1 − ε]``-clipped probabilities; ``alpha`` a float or one per class;
    labels smoothed towards ``1/K`` first."""

    target_kind = "probs"

    def __init__(self, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "sum_over_batch_size",
                 name: str = "categorical_focal_crossentropy", dtype: Any = None):
        owner = "CategoricalFocalCrossentropy"
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple, np.ndarray)) \
            else float(alpha)
        if float(gamma) < 0:
            raise ValueError(f"{owner}: gamma must be >= 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_fraction(label_smoothing, "label_smoothing", owner)
        self.axis = _check_axis(axis, owner)
        super().__init__(name, reduction)

    @property
    def fuses_with(self) -> str | None:  # type: ignore[override]
        return None if self.from_logits else "softmax"

    def prepare_targets(self, y, dtype):
        return np.ascontiguousarray(_columns(y), dtype=dtype)

    def _targets(self, y_true, shape, dtype):
        t = np.asarray(y_true, dtype=dtype).reshape(shape)
        return _smooth(t, self.label_smoothing, 1.0 / shape[1])

    def _terms(self, q, lq, t):
        """Per element: the loss and ``H = q · d loss/d q`` (zero where q is clipped)."""
        inside = (q > EPSILON) & (q < 1.0 - EPSILON)
        qc = np.clip(q, EPSILON, 1.0 - EPSILON)
        lqc = np.where(inside, lq, np.log(qc))
        m, dm = _focal_power(1.0 - qc, self.gamma)
        a = np.asarray(self.alpha, dtype=q.dtype)
        elem = a * m * (-t * lqc)
        h = np.where(inside, a * t * (dm * qc * lqc - m), 0.0)
        return elem, h

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        if self.from_logits:
            return self.forward_logits(ops, y_pred, y_true, sample_weight, dy)
        p = y_pred
        t = self._targets(y_true, p.shape, p.dtype)
        s = np.sum(p, axis=1, keepdims=True)
        q = p / s
        with np.errstate(divide="ignore"):
            elem, h = self._terms(q, np.log(q), t)
        # d/dp_k of Σ_j f(q_j), q = p/s: (G_k − Σ_j G_j q_j)/s with G = H/q
        with np.errstate(divide="ignore", invalid="ignore"):
            gq = np.where(h != 0, h / q, 0.0)
        g = (gq - np.sum(h, axis=1, keepdims=True)) / s
        g = g * _weights(p.shape[0], sample_weight, p.dtype)
        return _finish(np.sum(elem, axis=1), g, dy, p.dtype)

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return on_host(ops, self._from_logits, logits, y_true, sample_weight, dlogits)

    def _from_logits(self, z, y_true, sample_weight, dlogits):
        t = self._targets(y_true, z.shape, z.dtype)
        lq = _log_softmax(z)
        q = np.exp(lq)
        elem, h = self._terms(q, lq, t)
        g = (h - q * np.sum(h, axis=1, keepdims=True)) * _weights(z.shape[0], sample_weight,
                                                                  z.dtype)
        return _finish(np.sum(elem, axis=1), g, dlogits, z.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


# -- Keras's function forms (per-sample losses) ---------------------------------------------
def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False,
                              alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                              label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    return BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits,
                                   label_smoothing, axis).call(y_true, y_pred)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: Any = 0.25,
                                   gamma: float = 2.0, from_logits: bool = False,
                                   label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    return CategoricalFocalCrossentropy(alpha, gamma, from_logits, label_smoothing,
                                        axis).call(y_true, y_pred)


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    return KLDivergence().call(y_true, y_pred)


def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    return Poisson().call(y_true, y_pred)


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    return LogCosh().call(y_true, y_pred)


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    return Hinge().call(y_true, y_pred)


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    return SquaredHinge().call(y_true, y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    return CategoricalHinge().call(y_true, y_pred)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    return CosineSimilarity(axis).call(y_true, y_pred)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanAbsolutePercentageError().call(y_true, y_pred)


#: the classes by Keras name, the names and aliases ``losses.get`` accepts, the functions
CLASSES: tuple[type[Loss], ...] = (
    BinaryFocalCrossentropy, CategoricalFocalCrossentropy, KLDivergence, Poisson, LogCosh,
    Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity, MeanSquaredLogarithmicError,
    MeanAbsolutePercentageError)
NAMES: dict[str, type[Loss]] = {
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence, "poisson": Poisson, "log_cosh": LogCosh,
    "logcosh": LogCosh, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "cosine_similarity": CosineSimilarity,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
}
FUNCTIONS: dict[Any, type[Loss]] = {
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy, kl_divergence: KLDivergence,
    poisson: Poisson, log_cosh: LogCosh, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, cosine_similarity: CosineSimilarity,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
}
