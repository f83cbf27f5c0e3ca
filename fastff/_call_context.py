"""Per-thread state of a model's ``call`` in progress: nesting depth and the losses that
layers add with ``add_loss`` while it runs.

A subclassed model's ``call`` runs inside ``running()``; a model or ``Sequential`` called from
inside it then runs its layers directly (one set of weights, on the outer model's tape) instead
of its own loops. ``add_loss(value)`` appends to the innermost ``collecting()`` list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = ["running", "inside_call", "collecting", "add_loss", "activity", "regularize_output"]

_STATE = threading.local()


def inside_call() -> bool:
    """True while some model's ``call`` is running on this thread."""
    return getattr(_STATE, "depth", 0) > 0


@contextmanager
def running() -> Iterator[None]:
    """Mark a model's ``call`` as running on this thread (nestable)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


@contextmanager
def _bucket(kind: str) -> Iterator[list]:
    """A fresh list on this thread's ``kind`` stack for the block (the innermost one is
    what records append to)."""
    stack = getattr(_STATE, kind, None)
    if stack is None:
        stack = []
        setattr(_STATE, kind, stack)
    bucket: list[Any] = []
    stack.append(bucket)
    try:
        yield bucket
    finally:
        stack.pop()


def collecting() -> AbstractContextManager[list]:
    """Collect the values passed to ``add_loss`` inside the block (innermost block wins)."""
    return _bucket("losses")


def add_loss(value: Any) -> bool:
    """Record ``value`` in the innermost ``collecting()`` block; False when none is open."""
    stack = getattr(_STATE, "losses", None)
    if not stack:
        return False
    stack[-1].append(value)
    return True


# ------------------------------------------------------------------ activity regularizers
def activity() -> AbstractContextManager[list]:
    """Collect the activity-regularizer penalties of the layers run inside the block (one
    float per regularized output; the innermost block wins)."""
    return _bucket("activity")


def regularize_output(layer: Any, y: Any, bp: Any) -> tuple:
    """Keras 3's activity regularization of one layer call: ``reg(y) / batch size`` (Keras's
    ``divide_no_nan``: 0 for an empty batch) is the layer's loss of this call (its
    ``losses``, and the innermost ``activity()`` block's), and the returned backprop adds
    ``reg'(y) / batch size`` to the incoming gradient. ``(y, bp)`` unchanged for a layer
    without one, or for an output that is not one array."""
    reg = getattr(layer, "activity_regularizer", None)
    if reg is None or not hasattr(y, "ndim") or not hasattr(y, "dtype"):
        return y, bp
    import numpy as np

    if type(y) is not np.ndarray:
        raise NotImplementedError(f"layer {layer.name!r}: activity_regularizer runs on the "
                                  "CPU only; train this model with device='cpu'")
    n = y.shape[0] if y.ndim else 1
    scale = 1.0 / n if n else 0.0
    value = float(reg(y)) * scale
    layer.__dict__["_activity_losses"] = [value]
    stack = getattr(_STATE, "activity", None)
    if stack:
        stack[-1].append(value)

    def backprop(dy: Any, need_dx: bool = True) -> Any:
        g = np.asarray(dy, dtype=y.dtype).copy()
        if scale:
            g += (reg.gradient(y) * scale).astype(y.dtype, copy=False)
        return bp(g, need_dx)

    return y, backprop
