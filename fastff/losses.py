"""Losses with Keras class and function names.

Each loss gives, for a batch, the per-row losses and the gradient of the batch loss
``Σ wᵢ lᵢ / n`` (Keras's ``sum_over_batch_size``) with respect to the model output.
Cross-entropies on a softmax/sigmoid output fuse with that activation: the model hands
``forward_logits`` the pre-activation and the fused kernel computes the loss stably with
log-sum-exp and the gradient ``P(y|x) − e_y`` directly (the lecture's err(root)). Without
fusion (``from_logits=False`` after some other output) the probabilities are clipped to
``[ε, 1−ε]`` as Keras does.

User-facing calls (``loss(y_true, y_pred)``, ``categorical_crossentropy(...)``) run on the
NumPy reference ops, so they need no compiled kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import losses_extra
from fastff._registry import get_registered_object, registered_name_of
from fastff.loss_base import (
    EPSILON,
    Loss,
    LossFunctionWrapper,
    _finish,
    _numpy_ops,  # noqa: F401 - kept under its old name
    _weights,
)
from fastff.losses_extra import (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCosh,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    SquaredHinge,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    poisson,
    squared_hinge,
)

__all__ = [
    "Loss", "LossFunctionWrapper", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "Huber", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy", "mean_squared_error",
    "mean_absolute_error", "huber", "mse", "mae", "get", "serialize", "deserialize",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "KLDivergence", "Poisson",
    "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "CosineSimilarity",
    "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError", "binary_focal_crossentropy",
    "categorical_focal_crossentropy", "kl_divergence", "poisson", "log_cosh", "hinge",
    "squared_hinge", "categorical_hinge", "cosine_similarity", "mean_squared_logarithmic_error",
    "mean_absolute_percentage_error", "kld", "KLD", "msle", "MSLE", "mape", "MAPE", "logcosh",
]


class _Crossentropy(Loss):
    """Shared by the three cross-entropies: ``from_logits``, and label smoothing of dense
    targets (applied per batch inside the loss, so metrics still see the user's labels)."""

    #: the target a smoothed label moves towards: 1/K (categorical) or 0.5 (binary)
    _smooth_towards = ""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        if axis not in (-1, 1):
            raise ValueError(f"{type(self).__name__}: only axis=-1 (the features axis) is "
                             f"supported, got axis={axis!r}")
        ls = label_smoothing
        if isinstance(ls, bool) or not isinstance(ls, (int, float, np.floating)) \
                or not 0.0 <= float(ls) <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be a float in "
                             f"[0, 1], got {label_smoothing!r}")
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)
        self._label_smoothing = float(ls)
        self.axis = axis

    @property
    def label_smoothing(self) -> float:
        """Fixed at construction (the instance's class depends on it, see ``__new__``)."""
        return self._label_smoothing

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # With smoothing, an instance of a private subclass: the compiled fast path knows the
        # unsmoothed losses by exact class and leaves a smoothed one to the general path.
        smoothing = kwargs.get("label_smoothing", args[1] if len(args) > 1 else 0.0)
        if cls in _SMOOTHED and smoothing not in (0, 0.0, None, False):
            cls = _SMOOTHED[cls]
        return super().__new__(cls)

    def _smooth(self, ops: Any, t: Any) -> Any:
        """Smoothed dense targets (a new array; device arrays go through the host)."""
        ls = self.label_smoothing
        if not ls:
            return t
        host = t if isinstance(t, np.ndarray) else ops.to_numpy(t)
        towards = 0.5 if self._smooth_towards == "half" else 1.0 / host.shape[-1]
        out = host * host.dtype.type(1.0 - ls) + host.dtype.type(ls * towards)
        return out if isinstance(t, np.ndarray) else ops.to_device(np.ascontiguousarray(out))

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        if self.from_logits:
            return self.forward_logits(ops, y_pred, y_true, sample_weight, dy)
        return self._forward_probs(y_pred, self._smooth(ops, y_true), sample_weight, dy)

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
    _smooth_towards = "uniform"

    def lower(self) -> tuple[str, str | None] | None:
        """The compiled fused softmax cross-entropy (not from logits, not smoothed)."""
        if self.from_logits or self.label_smoothing:
            return None
        return "categorical_crossentropy", "softmax"
    target_kind = "probs"

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        # the dense-target kernel: its gradient softmax(z)·Σt − t holds for smoothed targets
        return ops.softmax_xent(logits, self._smooth(ops, y_true), sample_weight, dlogits)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "axis": self.axis}

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

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None):
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy: ignore_class is not "
                                      "supported; give the rows to ignore sample_weight 0")
        super().__init__(from_logits, 0.0, -1, reduction, name, dtype)

    def lower(self) -> tuple[str, str | None] | None:
        """The compiled fused softmax cross-entropy on class ids (not from logits)."""
        return None if self.from_logits else ("sparse_categorical_crossentropy", "softmax")

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
    _smooth_towards = "half"
    target_kind = "probs"

    def lower(self) -> tuple[str, str | None] | None:
        """The compiled fused sigmoid cross-entropy (not from logits, not smoothed)."""
        if self.from_logits or self.label_smoothing:
            return None
        return "binary_crossentropy", "sigmoid"

    def forward_logits(self, ops, logits, y_true, sample_weight=None, dlogits=None):
        return ops.sigmoid_bce(logits, self._smooth(ops, y_true), sample_weight, dlogits)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "axis": self.axis}

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


class _SmoothedCategoricalCrossentropy(CategoricalCrossentropy):
    """``CategoricalCrossentropy`` with ``label_smoothing > 0`` (see ``_Crossentropy.__new__``);
    named, configured and saved as its parent."""


class _SmoothedBinaryCrossentropy(BinaryCrossentropy):
    """``BinaryCrossentropy`` with ``label_smoothing > 0`` (see ``_Crossentropy.__new__``)."""


_SMOOTHED: dict[type, type] = {CategoricalCrossentropy: _SmoothedCategoricalCrossentropy,
                               BinaryCrossentropy: _SmoothedBinaryCrossentropy}
for _parent, _child in _SMOOTHED.items():
    _child.__name__ = _child.__qualname__ = _parent.__name__


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

    def lower(self) -> tuple[str, str | None] | None:
        """The compiled MSE kernel on the output as the last unit computes it."""
        return "mean_squared_error", None

    def forward(self, ops, y_pred, y_true, sample_weight=None, dy=None):
        # one Ops kernel (on CpuOps the one the compiled training step runs)
        return ops.mse(y_pred, y_true, sample_weight, dy)


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


# -- Keras's function forms (per-sample losses) ---------------------------------------------
def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    return CategoricalCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any,
                                    from_logits: bool = False) -> np.ndarray:
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    return BinaryCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    return MeanAbsoluteError().call(y_true, y_pred)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    return Huber(delta).call(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
logcosh = log_cosh

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
_CLASSES.update({c.__name__: c for c in losses_extra.CLASSES})
_NAMES.update(losses_extra.NAMES)
_FUNCTIONS.update(losses_extra.FUNCTIONS)


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
    if callable(identifier) and not isinstance(identifier, type):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss: expected a name, a function fn(y_true, y_pred) or a "
                    f"fastff.losses.Loss, got {identifier!r}")


def serialize(loss: Loss) -> dict | str:
    """A config dict; a function loss is saved by its (registered) name, as Keras."""
    if type(loss) is LossFunctionWrapper and not loss.fn_kwargs and \
            loss.reduction == "sum_over_batch_size":
        return registered_name_of(loss.fn) or loss.fn.__name__
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _unresolved(what: str, name: str) -> ValueError:
    return ValueError(f"Unknown {what} {name!r}: pass it in custom_objects={{{name!r}: ...}} "
                      "or register it with @fastff.saving.register_serializable()")


def deserialize(cfg: dict | str, custom_objects: dict | None = None) -> Loss:
    if isinstance(cfg, str):
        obj = get_registered_object(cfg, custom_objects)
        if obj is not None:
            return get(obj)
        if cfg.lower() not in _NAMES and cfg not in _CLASSES:
            raise _unresolved("loss", cfg)
        return get(cfg)
    name = cfg["class_name"]
    config = dict(cfg.get("config", {}))
    if name == "LossFunctionWrapper":
        fn = get_registered_object(str(config.pop("fn", "")), custom_objects)
        if fn is None:
            raise _unresolved("loss function", str(cfg.get("config", {}).get("fn")))
        return LossFunctionWrapper(fn, **config)
    cls = get_registered_object(name, custom_objects) or _CLASSES.get(name)
    if cls is None:
        raise _unresolved("loss class", name)
    return cls.from_config(config)
