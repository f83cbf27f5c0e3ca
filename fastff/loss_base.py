"""The loss base class and the helpers every loss module shares.

Each loss gives, for a batch, the per-row losses and the gradient of the batch loss
``Σ wᵢ lᵢ / n`` (Keras's ``sum_over_batch_size``, n the batch's rows) with respect to the
model output (``forward``), or to the logits of a fused softmax/sigmoid output
(``forward_logits``). Other reductions rescale the weights (``Loss.batch_weights``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Loss", "LossFunctionWrapper", "EPSILON"]

EPSILON = 1e-7
#: Keras 3's reductions; in training "none" reduces as "sum_over_batch_size" (Keras sums it)
REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none", None)


def _weights(n: int, sample_weight: Any, dtype: np.dtype) -> np.ndarray:
    """Per-row factor ``wᵢ / n`` (``1/n`` without weights) as a column."""
    if sample_weight is None:
        return np.full((n, 1), 1.0 / max(n, 1), dtype=dtype)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(n)
    return (w / max(n, 1)).astype(dtype).reshape(n, 1)


def _numpy_ops() -> Any:
    from fastff.backend import get_ops

    return get_ops("numpy")


class Loss:
    """Base class. ``fuses_with`` names the output activation this loss can fuse with."""

    fuses_with: str | None = None
    #: what the targets are: "sparse" (integer class ids), "probs" (one row per sample, in
    #: [0, 1]) or "real" (any finite values)
    target_kind = "real"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a user loss written as call(y_true, y_pred) takes the targets as given (as Keras)
        if "call" in cls.__dict__ and "forward" not in cls.__dict__ \
                and "target_kind" not in cls.__dict__:
            cls.target_kind = "any"

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size",
                 dtype: Any = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {', '.join(map(repr, REDUCTIONS))}, "
                             f"got {reduction!r} ({type(self).__name__})")
        self.name = name or _snake_name(type(self).__name__)
        self.reduction = reduction

    # -- engine interface ----------------------------------------------------------------
    def forward(self, ops: Any, y_pred: np.ndarray, y_true: np.ndarray,
                sample_weight: Any = None, dy: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """``(per_row_loss, d(weighted mean)/d y_pred)`` for the model output ``y_pred``.

        fastff's losses give their own kernels; a subclass that defines only
        ``call(y_true, y_pred)`` (with ``fastff.ops``) gets its gradient from the tape."""
        if type(self).call is Loss.call:
            raise NotImplementedError(f"{type(self).__name__} must define "
                                      "call(y_true, y_pred)")
        return _tape_forward(self, y_pred, y_true, sample_weight, dy)

    def forward_logits(self, ops: Any, logits: np.ndarray, y_true: np.ndarray,
                       sample_weight: Any = None, dlogits: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Same, given the logits before a fused ``fuses_with`` activation."""
        raise NotImplementedError(f"{self.name} does not fuse with an activation")

    def lower(self) -> tuple[str, str | None] | None:
        """The compiled form: ``(kernel loss name, output activation it takes the logits of,
        or None for the output as the last layer computes it)``, or None (the general engine
        only). The names are ``training.compiled.LOSS_KINDS``'. A subclass that redefines
        ``forward``/``call``/... must define its own ``lower`` to be lowered."""
        return None

    def fused_with(self, output_activation: str | None) -> bool:
        """True when the model should hand this loss the logits of ``output_activation``."""
        return self.fuses_with is not None and output_activation == self.fuses_with

    def prepare_targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Targets in the form ``forward`` takes (a converted copy, never the user's array)."""
        return np.ascontiguousarray(y, dtype=dtype)

    # -- user interface ------------------------------------------------------------------
    def batch_weights(self, sample_weight: Any, n: int,
                      whole: tuple[int, float | None] | None = None) -> Any:
        """The per-row weights that make the engines' ``Σ wᵢ lᵢ / n`` this loss's reduction of
        a batch of ``n`` rows: ``sample_weight`` itself for ``sum_over_batch_size``/``mean``,
        scaled by the batch's rows for ``sum`` and by rows / ``Σw`` for
        ``mean_with_sample_weight``. ``whole``: ``(rows, Σw)`` of the global batch these ``n``
        rows are one rank's part of (data parallel), so each part is weighted as in the whole."""
        rows, total = (n, None) if whole is None else whole
        if self.reduction == "sum":
            return np.full(n, float(rows)) if sample_weight is None else \
                np.asarray(sample_weight, dtype=np.float64) * rows
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            total = float(np.sum(w)) if total is None else total
            return w * (rows / total) if total else np.zeros_like(w)
        return sample_weight

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

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss, as Keras: ``sum_over_batch_size`` divides the weighted sum by the
        number of values, ``mean_with_sample_weight`` by the weights' sum, ``sum`` does not,
        ``none`` returns the values."""
        values = np.asarray(_plain(self.call(y_true, y_pred)))
        if self.reduction in ("none", None):
            return values
        if values.ndim == 0:
            return float(values)
        n = values.shape[0]
        w = np.ones(n) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float64).reshape(n)
        total = float(np.sum(values * w.reshape((n,) + (1,) * (values.ndim - 1)),
                             dtype=np.float64))
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            wsum = float(np.sum(np.broadcast_to(w.reshape((n,) + (1,) * (values.ndim - 1)),
                                                values.shape), dtype=np.float64))
            return total / wsum if wsum else 0.0
        return total / max(values.size, 1)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, cfg: dict) -> Loss:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred) -> per-sample values (or a scalar)``,
    written with ``fastff.ops``; named by the function (as Keras)."""

    target_kind = "any"

    def __init__(self, fn: Any, reduction: str = "sum_over_batch_size", name: str | None = None,
                 **kwargs: Any):
        if not callable(fn):
            raise TypeError(f"loss: expected a function fn(y_true, y_pred), got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict:
        from fastff._registry import get_registered_name

        return {"name": self.name, "reduction": self.reduction,
                "fn": get_registered_name(self.fn), **self.fn_kwargs}


def _plain(x: Any) -> Any:
    """The array behind a recorded value (``fastff.ops`` Tensors are ndarray views)."""
    return x.view(np.ndarray) if isinstance(x, np.ndarray) and type(x) is not np.ndarray else x


def _tape_forward(loss: Loss, y_pred: np.ndarray, y_true: Any, sample_weight: Any,
                  dy: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``loss.call`` on the tape: per-row values and the gradient of fastff's batch loss
    (``Σ wᵢ lᵢ / n`` over the per-sample means, as the built-in losses)."""
    from fastff.ops import forward_call

    n = y_pred.shape[0]
    values, bp = forward_call(lambda yp: loss.call(y_true, yp), y_pred, (), True,
                              name=f"loss {loss.name!r}")
    v = np.asarray(values)
    if v.dtype.kind not in "fc":
        raise TypeError(f"loss {loss.name!r} returned dtype {v.dtype}; expected float values")
    if v.ndim == 0:  # a scalar batch loss
        per_row = np.full(n, v, dtype=y_pred.dtype)
        seed = np.ones((), dtype=v.dtype)
    elif v.shape[0] == n:
        k = v.size // max(n, 1)
        per_row = v.reshape(n, -1).mean(axis=1) if v.ndim > 1 else v
        w = _weights(n, sample_weight, v.dtype).reshape((n,) + (1,) * (v.ndim - 1))
        seed = np.ascontiguousarray(np.broadcast_to(w / max(k, 1), v.shape))
    else:
        raise ValueError(f"loss {loss.name!r} returned values of shape {v.shape}; expected one "
                         f"per sample (first axis {n}, the batch) or a scalar")
    g = bp(seed, True)
    if g is None:
        g = np.zeros_like(y_pred)
    return _finish(per_row, g, dy, y_pred.dtype)


def _snake_name(cls_name: str) -> str:
    return {
        "CategoricalCrossentropy": "categorical_crossentropy",
        "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
        "BinaryCrossentropy": "binary_crossentropy",
        "MeanSquaredError": "mean_squared_error",
        "MeanAbsoluteError": "mean_absolute_error",
        "Huber": "huber_loss",
    }.get(cls_name, cls_name.lower())


def _finish(per_row, g, dy, dtype):
    per_row = np.ascontiguousarray(per_row, dtype=dtype)
    if dy is None:
        return per_row, np.ascontiguousarray(g, dtype=dtype)
    np.copyto(dy, g, casting="unsafe")
    return per_row, dy


def on_host(ops: Any, kernel: Any, logits: Any, y_true: Any, sample_weight: Any,
            dlogits: Any) -> tuple[np.ndarray, Any]:
    """Run a NumPy loss kernel ``kernel(logits, y_true, sample_weight, dlogits)``; device
    arrays (a GPU model fusing a loss that has no device kernel) go through host copies and
    the gradient goes back into the device buffer ``dlogits``."""
    if isinstance(logits, np.ndarray):
        t = y_true if isinstance(y_true, np.ndarray) else ops.to_numpy(y_true)
        return kernel(logits, t, sample_weight, dlogits)
    z = ops.to_numpy(logits)
    per_row, g = kernel(z, ops.to_numpy(y_true), sample_weight, None)
    if dlogits is None:
        return per_row, ops.to_device(g)
    dlogits.copy_to_device(np.ascontiguousarray(g, dtype=z.dtype))
    return per_row, dlogits
