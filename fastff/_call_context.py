"""Per-thread state of a model's ``call`` in progress: nesting depth and the losses that
layers add with ``add_loss`` while it runs.

A subclassed model's ``call`` runs inside ``running()``; a model or ``Sequential`` called from
inside it then runs its layers directly (one set of weights, on the outer model's tape) instead
of its own loops. ``add_loss(value)`` appends to the innermost ``collecting()`` list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["running", "inside_call", "collecting", "add_loss"]

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
def collecting() -> Iterator[list]:
    """Collect the values passed to ``add_loss`` inside the block (innermost block wins)."""
    stack = getattr(_STATE, "losses", None)
    if stack is None:
        stack = _STATE.losses = []
    bucket: list[Any] = []
    stack.append(bucket)
    try:
        yield bucket
    finally:
        stack.pop()


def add_loss(value: Any) -> bool:
    """Record ``value`` in the innermost ``collecting()`` block; False when none is open."""
    stack = getattr(_STATE, "losses", None)
    if not stack:
        return False
    stack[-1].append(value)
    return True
