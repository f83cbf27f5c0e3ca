"""Per-call copies of metric objects, so concurrent ``evaluate`` calls never share state.

A metric object given to ``compile`` is one object per model; threads that call ``evaluate`` at
the same time would otherwise mix their ``update_state`` calls into it. Each evaluation works
on its own reset copy (``private``) and, when it ends, writes its final state back into the
user's object under a lock (``write_back``): as in Keras, after ``evaluate`` the metric holds
the state of an evaluation (of the last to finish, when several run at once).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np

__all__ = ["private", "write_back"]

_LOCK = threading.Lock()


def _clone(metric: Any) -> Any:
    """A shallow copy whose arrays, lists and dicts are its own, then reset (so even a
    ``reset_state`` that zeroes arrays in place leaves the original alone)."""
    cls = type(metric)
    state = getattr(metric, "__dict__", None)
    if state is None or hasattr(cls, "__copy__") or hasattr(cls, "__slots__"):
        twin = copy.copy(metric)
    else:  # what copy.copy does for a plain object, without its generic machinery
        twin = cls.__new__(cls)
        twin.__dict__.update({
            k: v.copy() if isinstance(v, np.ndarray)
            else copy.copy(v) if isinstance(v, (list, dict, set)) else v
            for k, v in state.items()})
    if hasattr(twin, "reset_state"):
        twin.reset_state()
    return twin


def private(metrics: list) -> list:
    """A reset copy of each metric in ``metrics`` (the objects themselves are not touched), in
    a container like ``metrics`` (a list subclass keeps its attributes, e.g. log names)."""
    with _LOCK:
        twins = [_clone(m) for m in metrics]
    if type(metrics) is list:
        return twins
    out = copy.copy(metrics)
    out[:] = twins
    return out


def write_back(originals: list, copies: list) -> None:
    """Give each original metric the final state of its copy (atomically, under the lock)."""
    with _LOCK:
        for orig, twin in zip(originals, copies):
            state = getattr(twin, "__dict__", None)
            if orig is not twin and state is not None:
                orig.__dict__.update(state)
