"""Weight penalties (Keras names and scaling): L1 ``l1·Σ|w|``, L2 ``l2·Σw²``, and both.

The model adds ``reg(value)`` to the loss and ``reg.add_gradient(value, grad)`` to the gradient
after each backprop (which overwrites grads), so layers never see regularizers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


class Regularizer:
    """``__call__(w) -> float`` penalty and ``add_gradient(w, grad)`` (in place)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"regularizer factors must be >= 0, got l1={l1}, l2={l2}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w: np.ndarray) -> float:
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum(dtype=np.float64))
        if self.l2:
            total += self.l2 * float(np.square(w).sum(dtype=np.float64))
        return total

    def gradient(self, w: np.ndarray) -> np.ndarray:
        g = np.zeros_like(w)
        self.add_gradient(w, g)
        return g

    def add_gradient(self, w: np.ndarray, grad: np.ndarray) -> None:
        """``grad += d(penalty)/dw`` without allocating more than one temporary."""
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += (2.0 * self.l2) * w

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, cfg: dict) -> Regularizer:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class L1(Regularizer):
    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        super().__init__(l1=l1, l2=l2)


def l1(l1: float = 0.01) -> L1:  # noqa: D103 - Keras-style factory
    return L1(l1)


def l2(l2: float = 0.01) -> L2:  # noqa: D103
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: D103
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "Regularizer": Regularizer}
_NAMES = {"l1": l1, "l2": l2, "l1_l2": l1_l2}


def get(identifier: Any) -> Regularizer | None:
    """Resolve None, a name (``"l2"`` → L2(0.01)), a config dict or a Regularizer."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in _NAMES:
            return _NAMES[identifier.lower()]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        from fastff.activations import _unknown

        raise _unknown("regularizer", identifier, list(_NAMES))
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"regularizer: expected a name or Regularizer, got {identifier!r}")


def serialize(reg: Regularizer | None) -> dict | None:
    if reg is None:
        return None
    return {"class_name": type(reg).__name__, "config": reg.get_config()}


def deserialize(cfg: dict | str | None, custom_objects: dict | None = None) -> Regularizer | None:
    if cfg is None or isinstance(cfg, str):
        return get(cfg)
    name = cfg["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown regularizer class {name!r}: pass it in custom_objects")
    return cls.from_config(cfg.get("config", {}))
