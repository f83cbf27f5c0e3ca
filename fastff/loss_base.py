"""The loss base class and the helpers every loss module shares.

Each loss gives, for a batch, the per-row losses and the gradient of the (weighted) batch mean
``Σ wᵢ lᵢ / Σ wᵢ`` with respect to the model output (``forward``), or with respect to the
logits of a fused softmax/sigmoid output (``forward_logits``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Loss", "EPSILON"]

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
