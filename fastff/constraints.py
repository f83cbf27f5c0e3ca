"""Weight constraints (Keras 3 names, formulas and configs): ``MaxNorm``, ``MinMaxNorm``,
``NonNeg``, ``UnitNorm``.

A constraint maps a weight array to its projected value; the optimizer applies it to the
weight after each update step (``Optimizer.constraints``), as Keras assigns
``constraint(variable)`` after ``apply_gradients``. Norms are taken over ``axis`` (for a Dense
kernel ``(inputs, units)``, axis 0: each unit's incoming weights), with Keras's
``epsilon = 1e-7`` in the denominator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff._validation import check_real

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "get", "serialize", "deserialize"]

_EPSILON = 1e-7


class Constraint:
    """Base class: ``__call__(w) -> projected w`` (same shape and dtype)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _axis(axis: Any) -> Any:
    if isinstance(axis, (list, tuple)):
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"Argument `axis` must be an int or a list of ints; got {axis!r}")
        return [int(a) for a in axis]
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"Argument `axis` must be an int or a list of ints; got {axis!r}")
    return int(axis)


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    ax = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(np.square(w), axis=ax, keepdims=True))


class MaxNorm(Constraint):
    """Scale each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it:
    ``w * clip(n, 0, max_value) / (eps + n)``."""

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        check_real(max_value, "max_value", low=0.0)
        self.max_value = max_value
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        n = _norms(w, self.axis)
        desired = np.clip(n, 0, self.max_value)
        return (w * (desired / (_EPSILON + n))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along ``axis`` moved into ``[min_value, max_value]`` at ``rate``:
    ``desired = rate * clip(n, min, max) + (1 - rate) * n``, ``w * desired / (eps + n)``."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: Any = 0) -> None:
        lo = check_real(min_value, "min_value", low=0.0)
        check_real(max_value, "max_value", low=lo)
        check_real(rate, "rate", low=0.0, high=1.0)
        self.min_value, self.max_value, self.rate = min_value, max_value, rate
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        n = _norms(w, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return (w * (desired / (_EPSILON + n))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to zero."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return (w * (w >= 0)).astype(w.dtype, copy=False)


class UnitNorm(Constraint):
    """Each slice along ``axis`` scaled to unit L2 norm: ``w / (eps + n)``."""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = _axis(axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return (w / (_EPSILON + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"axis": self.axis}


# Keras's lower-case aliases
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES: dict[str, type[Constraint]] = {
    "Constraint": Constraint, "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
    "UnitNorm": UnitNorm, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}


def get(identifier: Any) -> Constraint | None:
    """None, a name (``"max_norm"``, ``"MaxNorm"``), a config dict, a Constraint or a callable
    ``w -> w``."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier)
        if cls is None:
            from fastff.activations import _unknown

            raise _unknown("constraint", identifier,
                           [k for k in _CLASSES if k[0].islower()])
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


def serialize(constraint: Any) -> dict | None:
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(f"constraint {constraint!r} is a plain callable: it cannot be saved; "
                         "subclass fastff.constraints.Constraint with get_config")
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config: Any, custom_objects: dict | None = None) -> Constraint | None:
    if config is None or isinstance(config, str):
        return get(config)
    from fastff._registry import get_registered_object

    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name) or get_registered_object(
        config.get("registered_name") or name, custom_objects)
    if cls is None:
        raise ValueError(f"Unknown constraint class {name!r}: pass it in custom_objects")
    return cls.from_config(dict(config.get("config", {})))
