"""Losses with Keras class and function names.

Each loss gives, for a batch, the per-row losses and the gradient of the (weighted) batch mean
``Σ wᵢ lᵢ / Σ wᵢ`` with respect to the model output. Cross-entropies on a softmax/sigmoid output
fuse with that activation: the model hands ``forward_logits`` the pre-activation and the fused
kernel computes the loss stably with log-sum-exp and the gradient ``P(y|x) − e_y`` directly
(the lecture's err(root)). Without fusion (``from_logits=False`` after some other output) the
probabilities are clipped to ``[ε, 1−ε]`` as Keras does.

User-facing calls (``loss(y_true, y_pred)``, ``categorical_crossentropy(...)``) run on the
NumPy reference ops, so they need no compiled kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "Huber", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy", "mean_squared_error",
    "mean_absolute_error", "huber", "mse", "mae", "get", "serialize", "deserialize",
]

EPSILON = 1e-7


def _weights(n: int, sample_weight: Any, dtype: np.dtype) -> np.ndarray:
    """Per-row factor ``wᵢ / Σw`` (``1/n`` without weights) as a column."""
    if sample_weight is None:
        return np.full((n, 1), 1.0 / max(n, 1), dtype=dtype)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(n)
    total = w.sum()
    return (w / total if total != 0 else np.zeros_like(w)).astype(dtype).reshape(n, 1)


def _numpy_ops() -> Any:
    from fastff.backend import get_ops

    return get_ops("numpy")


class Loss:
    """Base class. ``fuses_with`` names the output activation this loss can fuse with."""

    fuses_with: str | None = None
    #: what the targets are: "sparse" (integer class ids), "probs" (one row per sample, in
    #: [0, 1]) or "real" (any finite values)
    target_kind = "real"

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "mean", "sum", "none", None):
            raise ValueError(f"{type(self).__name__}: unknown reduction {reduction!r}")
        self.name = name or _snake_name(type(self).__name__)
        self.reduction = reduction

    # -- engine interface ----------------------------------------------------------------
    def forward(self, ops: Any, y_pred: np.ndarray, y_true: np.ndarray,
                sample_weight: Any = None, dy: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """``(per_row_loss, d(weighted mean)/d y_pred)`` for the model output ``y_pred``."""
        raise NotImplementedError

    def forward_logits(self, ops: Any, logits: np.ndarray, y_true: np.ndarray,
                       sample_weight: Any = None, dlogits: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Same, given the logits before a fused ``fuses_with`` activation."""
        raise NotImplementedError(f"{self.name} does not fuse with an activation")

    def fused_with(self, output_activation: str | None) -> bool:
        """True when the model should hand this loss the logits of ``output_activation``."""
        return self.fuses_with is not None and output_activation == self.fuses_with

    def prepare_targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Targets in the form ``forward`` takes (a converted copy, never the user's array)."""
        return np.ascontiguousarray(y, dtype=dtype)

    # -- user interface ------------------------------------------------------------------
    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """Per-sample losses (Keras's function form)."""
        y_pred = np.asarray(y_pred)
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float64)
        y_pred2 = np.ascontiguousarray(y_pred.reshape(y_pred.shape[0], -1) if y_pred.ndim != 2
                                       else y_pred)
        yt = self.prepare_targets(np.asarray(y_true), y_pred2.dtype)
        per_row, _ = self.forward(_numpy_ops(), y_pred2, yt)
        return per_row

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        per_row = self.call(y_true, y_pred)
        if self.reduction in ("none", None):
            return per_row
        w = np.ones(per_row.shape[0]) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float64).reshape(per_row.shape[0])
        total = float(np.sum(per_row * w, dtype=np.float64))
        if self.reduction == "sum":
            return total
        return total / max(per_row.shape[0], 1)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, cfg: dict) -> Loss:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _snake_name(cls_name: str) -> str:
    return {
        "CategoricalCrossentropy": "categorical_crossentropy",
        "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
        "BinaryCrossentropy": "binary_crossentropy",
        "MeanSquaredError": "mean_squared_error",
        "MeanAbsoluteError": "mean_absolute_error",
        "Huber": "huber_loss",
    }.get(cls_name, cls_name.lower())


class _Crossentropy(Loss):
    def __init__(self, from_logits: bool = False, name: str | None = None,
                 reduction: str = "sum_over_batch_size", **kwargs: Any):
        smoothing = kwargs.pop("label_smoothing", 0.0)
        kwargs.pop("axis", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {sorted(kwargs)}")
        if smoothing:
            raise NotImplementedError("label_smoothing is not supported")
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        if self.from_logits:
            return self.forward_logits(ops, y_pred, y_true, sample_weight, dy)
        return self._forward_probs(y_pred, y_true, sample_weight, dy)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["from_logits"] = self.from_logits
        return cfg

    @property
    def fuses_with(self) -> str | None:  # type: ignore[override]
        return None if self.from_logits else self._activation


class CategoricalCrossentropy(_Crossentropy):
    """``-Σ t log p`` with one-hot (or probability) targets ``t``."""

    _activation = "softmax"
    target_kind = "probs"

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return ops.softmax_xent(logits, y_true, sample_weight, dlogits)

    def _forward_probs(self, p, t, sample_weight, dy):
        # Keras: scale rows to sum 1, clip, then -Σ t log p. d/dp of -Σ t log(p/s) is
        # -t/p + Σt/s (the clip's zero gradient applies outside [ε, 1-ε]).
        s = p.sum(axis=1, keepdims=True)
        q = p / s
        qc = np.clip(q, EPSILON, 1.0 - EPSILON)
        per_row = -np.sum(t * np.log(qc), axis=1)
        inside = (q > EPSILON) & (q < 1.0 - EPSILON)
        g = np.where(inside, -t / np.where(inside, p, 1.0), 0.0)
        g = g + np.sum(np.where(inside, t, 0.0), axis=1, keepdims=True) / s
        g = g * _weights(p.shape[0], sample_weight, p.dtype)
        return _finish(per_row, g, dy, p.dtype)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Categorical cross-entropy with integer class ids as targets."""

    _activation = "softmax"
    target_kind = "sparse"

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return ops.softmax_xent_sparse(logits, y_true, sample_weight, dlogits)

    def prepare_targets(self, y, dtype):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return np.ascontiguousarray(y, dtype=np.int64)

    def _forward_probs(self, p, labels, sample_weight, dy):
        n, k = p.shape
        t = np.zeros((n, k), dtype=p.dtype)
        t[np.arange(n), labels] = 1
        return CategoricalCrossentropy._forward_probs(self, p, t, sample_weight, dy)


class BinaryCrossentropy(_Crossentropy):
    """``-(t log p + (1-t) log(1-p))`` averaged over the last axis."""

    _activation = "sigmoid"
    target_kind = "probs"

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return ops.sigmoid_bce(logits, y_true, sample_weight, dlogits)

    def prepare_targets(self, y, dtype):
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return np.ascontiguousarray(y, dtype=dtype)

    def _forward_probs(self, p, t, sample_weight, dy):
        k = p.shape[1]
        pc = np.clip(p, EPSILON, 1.0 - EPSILON)
        per_row = -np.mean(t * np.log(pc) + (1 - t) * np.log(1 - pc), axis=1)
        inside = (p > EPSILON) & (p < 1.0 - EPSILON)
        g = np.where(inside, (pc - t) / (pc * (1 - pc)), 0.0) / k
        g = g * _weights(p.shape[0], sample_weight, p.dtype)
        return _finish(per_row, g, dy, p.dtype)


class _Regression(Loss):
    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size"):
        super().__init__(name, reduction)

    def prepare_targets(self, y, dtype):
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return np.ascontiguousarray(y, dtype=dtype)

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        e = y_pred - y_true
        per_row, g = self._elementwise(e)
        g = g * (_weights(e.shape[0], sample_weight, e.dtype) / e.shape[1])
        return _finish(per_row, g, dy, y_pred.dtype)


class MeanSquaredError(_Regression):
    """``mean((y_pred - y_true)²)`` over the last axis."""

    def _elementwise(self, e):
        return np.mean(e * e, axis=1), 2.0 * e


class MeanAbsoluteError(_Regression):
    """``mean(|y_pred - y_true|)`` over the last axis."""

    def _elementwise(self, e):
        return np.mean(np.abs(e), axis=1), np.sign(e)


class Huber(_Regression):
    """Quadratic for ``|e| ≤ delta``, linear beyond (Keras's ``huber``)."""

    def __init__(self, delta: float = 1.0, name: str | None = None,
                 reduction: str = "sum_over_batch_size"):
        super().__init__(name, reduction)
        if delta <= 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}")
        self.delta = float(delta)

    def _elementwise(self, e):
        d = e.dtype.type(self.delta)
        a = np.abs(e)
        elem = np.where(a <= d, 0.5 * e * e, d * (a - 0.5 * d))
        return np.mean(elem, axis=1), np.clip(e, -d, d)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["delta"] = self.delta
        return cfg


def _finish(per_row, g, dy, dtype):
    per_row = np.ascontiguousarray(per_row, dtype=dtype)
    if dy is None:
        return per_row, np.ascontiguousarray(g, dtype=dtype)
    np.copyto(dy, g, casting="unsafe")
    return per_row, dy


# -- Keras's function forms (per-sample losses) ---------------------------------------------
def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    return CategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any,
                                    from_logits: bool = False) -> np.ndarray:
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    return BinaryCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanAbsoluteError().call(y_true, y_pred)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    return Huber(delta).call(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_CLASSES: dict[str, type[Loss]] = {c.__name__: c for c in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    MeanSquaredError, MeanAbsoluteError, Huber)}
_NAMES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, huber: Huber,
}


def get(identifier: Any) -> Loss:
    """Resolve a name (``"sparse_categorical_crossentropy"``, ``"mse"``), a Keras function, a
    class, a config dict or a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            from fastff.activations import _unknown

            raise _unknown("loss", identifier, list(_NAMES))
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise TypeError(f"loss: expected a name or a fastff.losses.Loss, got {identifier!r}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(cfg: dict | str, custom_objects: dict | None = None) -> Loss:
    if isinstance(cfg, str):
        if custom_objects and cfg in custom_objects:
            return get(custom_objects[cfg])
        return get(cfg)
    name = cfg["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown loss class {name!r}: pass it in custom_objects")
    return cls.from_config(dict(cfg.get("config", {})))
