"""Per-call copies of metric objects, so concurrent ``evaluate`` calls never share state.

A metric object given to ``compile`` is one object per model; threads that call ``evaluate`` at
the same time would otherwise mix their ``update_state`` calls into it. Each evaluation works
on its own reset copy (``private``) and, when it ends, writes its final state back into the
user's object under a lock (``write_back``): as in Keras, after ``evaluate`` the metric holds
the state of an evaluation (of the last to finish, when several run at once). A subclass's
``add_variable`` variables are copied too and written back into the original variables, so
references to them stay valid.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from fastff.metrics.base import MetricVariable

__all__ = ["private", "write_back"]

_LOCK = threading.Lock()


def _map(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``value`` with ``fn`` applied to each metric variable (inside lists, tuples and dicts)
    and arrays, lists, tuples, dicts and sets copied."""
    if isinstance(value, MetricVariable):
        return fn(value)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, set):
        return set(value)
    return value


def _clone(metric: Any) -> Any:
    """A copy owning its arrays, containers and variables, then reset (so even a
    ``reset_state`` that zeroes arrays in place leaves the original alone)."""
    cls = type(metric)
    state = getattr(metric, "__dict__", None)
    if state is None or hasattr(cls, "__copy__") or hasattr(cls, "__slots__"):
        twin = copy.copy(metric)
    else:  # what copy.copy does for a plain object, owning its state
        memo: dict[int, MetricVariable] = {}

        def dup(v: MetricVariable) -> MetricVariable:
            if id(v) not in memo:
                memo[id(v)] = MetricVariable(v.name, v.value.copy())
            return memo[id(v)]

        twin = cls.__new__(cls)
        twin.__dict__.update({k: _map(v, dup) for k, v in state.items()})
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


def _write(orig: Any, twin: Any) -> None:
    state = getattr(twin, "__dict__", None)
    if orig is twin or state is None:
        return
    ovars = orig.__dict__.get("_variables") or []
    tvars = state.get("_variables") or []
    back = {id(t): o for o, t in zip(ovars, tvars)}
    for o, t in zip(ovars, tvars):
        o.value = t.value  # the user's variables keep their identity

    def home(v: MetricVariable) -> MetricVariable:
        return back.get(id(v), v)

    orig.__dict__.update({k: _map(v, home) for k, v in state.items() if k != "_variables"})


def write_back(originals: list, copies: list) -> None:
    """Give each original metric the final state of its copy (atomically, under the lock)."""
    with _LOCK:
        for orig, twin in zip(originals, copies):
            _write(orig, twin)
