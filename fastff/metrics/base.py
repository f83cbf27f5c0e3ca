"""Metric base classes: ``Metric`` (stateful), ``Mean``/``Sum`` and ``MeanMetricWrapper``.

State is kept in float64 NumPy scalars/arrays, so a result over several ``update_state`` calls
equals the result over the concatenated batches (up to the float64 rounding of the sums).
Unnamed metrics get Keras's generated names: ``auc``, ``auc_1``, ... (reset by
``fastff.utils.clear_session``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Metric", "MetricVariable", "Mean", "Sum", "MeanMetricWrapper", "auto_name",
           "reset_names", "snake_case", "same_rank", "per_sample"]

_NAME_COUNTS: dict[str, int] = {}


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``AUC`` → ``auc``, ``TopKCategoricalAccuracy`` →
    ``top_k_categorical_accuracy``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2``, ... as Keras names unnamed metrics."""
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Forget generated metric names (``fastff.utils.clear_session``)."""
    _NAME_COUNTS.clear()


def same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank``: ranks that differ by one are matched by
    squeezing a trailing axis of size 1 or adding one."""
    if y_true.ndim == y_pred.ndim + 1:
        y_true = y_true[..., 0] if y_true.shape[-1] == 1 else y_true
        if y_true.ndim != y_pred.ndim:
            y_pred = y_pred[..., None]
    elif y_pred.ndim == y_true.ndim + 1:
        y_pred = y_pred[..., 0] if y_pred.shape[-1] == 1 else y_pred
        if y_true.ndim != y_pred.ndim:
            y_true = y_true[..., None]
    return y_true, y_pred


def as_float(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array (a new array when a conversion is needed; never written to)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected numbers, got {type(x).__name__}") from None
    return arr


def per_sample(values: np.ndarray, sample_weight: Any, reduce: Callable = np.mean
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras's ``reduce_to_samplewise_values``: the values reduced over the non-batch axes
    (after weighting) and the per-sample weights (None without weights)."""
    if sample_weight is None:
        if values.ndim > 1:
            values = reduce(values, axis=tuple(range(1, values.ndim)))
        return values, None
    w = as_float(sample_weight, "sample_weight")
    values, w = same_rank(values, w)
    if values.ndim > w.ndim:
        values = reduce(values, axis=tuple(range(w.ndim, values.ndim)))
    try:  # as Keras, both ways: a scalar value (one per batch) counts once per weighted sample
        shape = np.broadcast_shapes(values.shape, w.shape)
    except ValueError:
        raise ValueError(f"sample_weight: shape {np.shape(sample_weight)} does not broadcast "
                         f"to the values' shape {values.shape}") from None
    w = np.broadcast_to(w, shape)
    values = np.broadcast_to(values, shape) * w
    if w.ndim > 1:
        w = reduce(w, axis=tuple(range(1, w.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, w


def _plain(x: Any) -> Any:
    return x.value if isinstance(x, MetricVariable) else np.asarray(x)


class MetricVariable:
    """A metric's state variable (Keras's ``Variable`` as metrics use it): ``assign``,
    ``assign_add``, ``assign_sub``, ``numpy()``; arithmetic and NumPy see its value."""

    _fastff_variable = True  # fastff.ops reads ``.value`` (as for weights)
    trainable = False

    def __init__(self, name: str, value: np.ndarray):
        self.name = name
        self.value = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def assign(self, value: Any) -> None:
        arr = np.asarray(_plain(value), dtype=self.value.dtype)
        if arr.shape != self.value.shape:
            try:
                arr = np.broadcast_to(arr, self.value.shape)
            except ValueError:
                raise ValueError(f"metric variable {self.name!r}: expected shape "
                                 f"{self.value.shape}, got {arr.shape}") from None
        self.value = np.array(arr, dtype=self.value.dtype)

    def assign_add(self, value: Any) -> None:
        self.assign(self.value + _plain(value))

    def assign_sub(self, value: Any) -> None:
        self.assign(self.value - _plain(value))

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.value if dtype is None else self.value.astype(dtype)

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"<MetricVariable {self.name} value={self.value!r}>"

    def __add__(self, o): return self.value + _plain(o)  # noqa: E704
    def __radd__(self, o): return _plain(o) + self.value  # noqa: E704
    def __sub__(self, o): return self.value - _plain(o)  # noqa: E704
    def __rsub__(self, o): return _plain(o) - self.value  # noqa: E704
    def __mul__(self, o): return self.value * _plain(o)  # noqa: E704
    def __rmul__(self, o): return _plain(o) * self.value  # noqa: E704
    def __truediv__(self, o): return self.value / _plain(o)  # noqa: E704
    def __rtruediv__(self, o): return _plain(o) / self.value  # noqa: E704
    def __neg__(self): return -self.value  # noqa: E704
    def __getitem__(self, k): return self.value[k]  # noqa: E704


class Metric:
    """Stateful metric: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
    ``reset_state()``; calling it updates and returns the result. A subclass keeps its state in
    variables made by ``add_variable``/``add_weight`` (reset to zeros by ``reset_state``), as
    Keras 3 metrics do."""

    #: call the subclass's reset_state from __init__ (fastff's own metrics set their state
    #: there); a user subclass creates its variables after super().__init__(), as in Keras
    _reset_in_init = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__module__.startswith("fastff."):
            cls._reset_in_init = False

    def __init__(self, name: str | None = None, dtype: Any = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or auto_name(snake_case(type(self).__name__))
        self.dtype = "float32" if dtype is None else str(np.dtype(dtype))
        self._variables: list[MetricVariable] = []
        if self._reset_in_init:
            self.reset_state()
        else:
            Metric.reset_state(self)

    def add_variable(self, shape: Any = (), initializer: Any = "zeros", dtype: Any = None,
                     aggregation: str = "sum", name: str | None = None) -> MetricVariable:
        """A state variable of ``shape`` (Keras 3's ``Metric.add_variable``)."""
        from fastff import initializers

        init = initializers.get("zeros" if initializer is None else initializer)
        dt = np.dtype(dtype or self.dtype)
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        var = MetricVariable(name or f"variable_{len(self._variables)}",
                             np.array(init(shape, dt), dtype=dt).reshape(shape))
        self._variables.append(var)
        return var

    def add_weight(self, name: str | None = None, shape: Any = (), initializer: Any = "zeros",
                   dtype: Any = None, aggregation: str = "sum") -> MetricVariable:
        """Keras 3's older spelling of ``add_variable``."""
        return self.add_variable(shape, initializer, dtype, aggregation, name)

    @property
    def variables(self) -> list[MetricVariable]:
        return list(self.__dict__.get("_variables", []))

    def reset_state(self) -> None:
        """Zero the state variables (and fastff's own running ``total``/``count``; a user
        subclass may use those names for its own variables)."""
        if self._reset_in_init:
            self.total = 0.0
            self.count = 0.0
        for v in self.__dict__.get("_variables", []):
            v.value = np.zeros(v.value.shape, dtype=v.value.dtype)

    def result(self) -> Any:
        return self.total / self.count if self.count else 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, cfg: dict) -> Metric:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Weighted mean of the values passed to ``update_state(values, sample_weight=None)``;
    values of shape ``(n, ...)`` count as n samples (each the mean over its other axes)."""

    def __init__(self, name: str = "mean", dtype: Any = None):
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        Metric.reset_state(self)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None, *_: Any) -> None:  # type: ignore[override]
        v, w = per_sample(as_float(values, "values"), sample_weight, np.mean)
        self.total += float(np.sum(v))
        if w is not None:
            self.count += float(np.sum(w))
        else:
            self.count += float(v.shape[0]) if v.ndim >= 1 else 1.0


class Sum(Metric):
    """Weighted sum of the values passed to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str = "sum", dtype: Any = None):
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        Metric.reset_state(self)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None, *_: Any) -> None:  # type: ignore[override]
        v, _w = per_sample(as_float(values, "values"), sample_weight, np.sum)
        self.total += float(np.sum(v))
        self.count = 1.0

    def result(self) -> float:
        return self.total


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)`` (per-sample values)."""

    def __init__(self, fn: Callable[..., np.ndarray], name: str | None = None, dtype: Any = None,
                 **fn_kwargs: Any):
        self._fn = fn
        self._fn_kwargs = fn_kwargs
        super().__init__(name or getattr(fn, "__name__", None) or auto_name("mean_metric_wrapper"),
                         dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        Mean.update_state(self, values, sample_weight)
