"""The metrics of ``compile(metrics=..., weighted_metrics=...)`` as the loops use them, with
Keras 3's rules (``keras.src.trainers.compile_utils.CompileMetrics``):

* ``metrics`` are updated without sample weights; ``weighted_metrics`` with them (the
  ``sample_weight`` and ``class_weight`` of ``fit``/``evaluate``);
* names in logs and History: a repeated name of ``metrics`` gets ``_1``, ``_2``, ...; a
  weighted metric whose name is taken becomes ``weighted_<name>`` (then ``_1``, ... again);
* a result that is an array (``F1Score(average=None)``: one value per class) stays an array
  in the logs; a scalar becomes a Python float.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CompiledMetrics", "build", "log_names", "log_value"]


class CompiledMetrics(list):
    """Metric objects in log order, with their log ``names`` and whether each is
    ``weighted`` (takes the sample weights)."""

    names: list[str]
    weighted: list[bool]


def log_names(unweighted: list[str], weighted: list[str]) -> list[str]:
    """Keras's log names for the metrics named ``unweighted`` then ``weighted``."""
    seen: dict[str, int] = {}
    out = []
    for name in unweighted:
        if name in seen:
            k = seen[name]
            seen[name] += 1
            name = f"{name}_{k}"
        else:
            seen[name] = 1
        out.append(name)
    for name in weighted:
        if name in seen:
            name = f"weighted_{name}"
            if name in seen:
                k = seen[name]
                seen[name] += 1
                name = f"{name}_{k}"
            else:
                seen[name] = 1
        else:
            seen[name] = 1
        out.append(name)
    return out


def build(metric_ids: list, weighted_ids: list, loss: Any) -> CompiledMetrics:
    """Fresh metric objects (a metric object given by the user is reset and used itself)."""
    from fastff import metrics as metrics_mod

    out = CompiledMetrics()
    for ident in [*metric_ids, *weighted_ids]:
        metric = metrics_mod.get(ident, loss)
        if metric is ident and hasattr(ident, "reset_state"):
            ident.reset_state()
        out.append(metric)
    k = len(metric_ids)
    out.names = log_names([m.name for m in out[:k]], [m.name for m in out[k:]])
    out.weighted = [False] * k + [True] * len(weighted_ids)
    return out


def log_value(result: Any) -> Any:
    """A metric result as logged: a float, or a copy of an array result."""
    arr = np.asarray(result)
    if arr.ndim == 0:
        return float(arr)
    return np.array(arr, dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype, copy=True)
