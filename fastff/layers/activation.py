"""Activation layer: applies an activation function elementwise (softmax: per row)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import activations
from fastff.layers.base import Layer, Workspace, buffer


class Activation(Layer):
    """An activation function as a layer (passes masks through, as Keras)."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        """The softmax/sigmoid a loss may fuse with (None when an activity regularizer
        needs the output itself)."""
        name = self.activation.name if self.activation.builtin else None
        if self.activity_regularizer is not None:
            return None
        return name if name in ("softmax", "sigmoid") else None

    def lower(self, builder: Any) -> bool:
        """Folded into the previous unit where the builder can (see ``StackBuilder``)."""
        return builder.activation(self, self.activation)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if input_shape:
            self.activation.check_features(input_shape[-1], f"Activation {self.name!r}")

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape:
            return tuple(input_shape)
        return (*input_shape[:-1], self.activation.out_features(input_shape[-1]))

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        ops, act = self.ops, self.activation
        shape = (*x.shape[:-1], act.out_features(x.shape[-1]))
        y = act.forward(ops, x, out=buffer(ws, "y", shape, x.dtype))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return act.backward(ops, dy, x, y, out=buffer(ws, "dx", x.shape, x.dtype))

        return y, backprop

    def forward_logits(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        """Identity: the loss applies the fused softmax/sigmoid itself."""
        return x, _identity_backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


def _identity_backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
    return dy if need_dx else None


class _ActivationLayer(Activation):
    """Base of Keras's dedicated activation layers (``ReLU``, ``LeakyReLU``, ...): an
    ``Activation`` whose config holds the layer's own arguments instead of ``activation``."""

    def get_config(self) -> dict:
        cfg = Layer.get_config(self)
        cfg.update(self._args())
        return cfg

    def _args(self) -> dict:
        return {}


def _scalar(value: Any, name: str, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{layer}: {name} must be a finite number, got {value!r}")
    return float(value)


class _KerasReLU(activations.CustomActivation):
    """Keras's ``relu(x, negative_slope, max_value, threshold)`` with a ``max_value`` or a
    ``threshold`` (no kernel row takes three parameters): its exact formula in NumPy,
    ``where(x > threshold, x, 0)`` (``relu(x)`` when threshold is 0), clipped to
    ``[0, max_value]``, minus ``negative_slope * relu(threshold - x)``; runs on the CPU."""

    def __init__(self, negative_slope: float, max_value: float | None, threshold: float):
        super().__init__("relu")
        self.negative_slope, self.max_value, self.threshold = negative_slope, max_value, \
            threshold

    def call(self, x: np.ndarray) -> np.ndarray:
        return activations._call_with_kwargs(
            "relu", x, negative_slope=self.negative_slope, max_value=self.max_value,
            threshold=self.threshold)

    def grad(self, dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = dy.dtype.type
        on = x > t(self.threshold)
        if self.max_value is not None:
            on &= x <= t(self.max_value)
        g = np.where(on, dy, t(0))
        if self.negative_slope:
            g = g + np.where(x < t(self.threshold), dy * t(self.negative_slope), t(0))
        return g

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope, "max_value": self.max_value,
                "threshold": self.threshold}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KerasReLU) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash(tuple(self.get_config().values()))


class ReLU(_ActivationLayer):
    """Keras's ``ReLU`` layer: ``relu(x, negative_slope, max_value, threshold)`` with Keras's
    checks (``max_value`` None or >= 0, ``negative_slope`` and ``threshold`` >= 0). The
    defaults run the relu kernel, ``negative_slope`` alone the leaky_relu one,
    ``max_value=6`` alone relu6's; any other ``max_value``/``threshold`` runs Keras's formula
    in NumPy on the CPU (general training path)."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any):
        if negative_slope is None or threshold is None:
            raise ValueError("ReLU: negative_slope and threshold cannot be None, got "
                             f"negative_slope={negative_slope!r}, threshold={threshold!r}")
        slope = _scalar(negative_slope, "negative_slope", "ReLU")
        thr = _scalar(threshold, "threshold", "ReLU")
        top = None if max_value is None else _scalar(max_value, "max_value", "ReLU")
        if slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope!r}")
        if thr < 0:
            raise ValueError(f"ReLU: threshold must be >= 0, got {threshold!r}")
        if top is not None and top < 0:
            raise ValueError(f"ReLU: max_value must be None or >= 0, got {max_value!r}")
        if top is None and thr == 0.0:
            act = activations.get("relu") if slope == 0.0 else \
                activations.get("leaky_relu").with_param(negative_slope=slope)
        elif top == 6.0 and thr == 0.0 and slope == 0.0:
            act = activations.get("relu6")
        else:
            act = _KerasReLU(slope, top, thr)
        super().__init__(act, **kwargs)
        self.max_value, self.negative_slope, self.threshold = top, slope, thr

    def _args(self) -> dict:
        return {"max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_ActivationLayer):
    """Keras's ``LeakyReLU`` layer: ``x`` for ``x >= 0``, else ``negative_slope * x``
    (Keras's default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3
            negative_slope = kwargs.pop("alpha")
        slope = _scalar(negative_slope, "negative_slope", "LeakyReLU")
        if slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be >= 0, got {negative_slope!r}")
        super().__init__(activations.get("leaky_relu").with_param(negative_slope=slope),
                         **kwargs)
        self.negative_slope = slope

    def _args(self) -> dict:
        return {"negative_slope": self.negative_slope}


class ELU(_ActivationLayer):
    """Keras's ``ELU`` layer: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        self.alpha = _scalar(alpha, "alpha", "ELU")
        super().__init__(activations.get("elu").with_param(alpha=self.alpha), **kwargs)

    def _args(self) -> dict:
        return {"alpha": self.alpha}


class Softmax(_ActivationLayer):
    """Keras's ``Softmax`` layer over ``axis`` (an int or a list/tuple of ints; Keras's
    default -1). Over the last axis it is the softmax kernel (fused with a cross-entropy
    loss, lowered to the compiled path); over other axes NumPy's ``exp(x - logsumexp)`` on
    the CPU, general path. (Keras's ``mask`` argument is not taken.)"""

    def __init__(self, axis: int | list | tuple = -1, **kwargs: Any):
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                           for a in axes):
            raise ValueError(f"Softmax: axis must be an int or a list of ints, got {axis!r}")
        super().__init__("softmax", **kwargs)
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self._axes = tuple(int(a) for a in axes)

    def _over_last(self) -> bool:
        if self._axes == (-1,):
            return True
        if not self.built or self.input_shape is None:
            return False
        rank = len(self.input_shape) + 1  # the batch axis included
        return {a % rank for a in self._axes} == {rank - 1}

    def build(self, input_shape: tuple[int, ...]) -> None:
        rank = len(input_shape) + 1
        for a in self._axes:
            if not -rank <= a < rank:
                raise ValueError(f"Softmax: axis {a} is out of range for inputs of rank "
                                 f"{rank} (batch axis included)")

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        return "softmax" if self._over_last() and self.activity_regularizer is None else None

    def lower(self, builder: Any) -> bool:
        return self._over_last() and super().lower(builder)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if self._over_last():
            return super().forward(x, training, ws)
        axes = self._axes
        z = x - np.max(x, axis=axes, keepdims=True)
        e = np.exp(z)
        y = e / np.sum(e, axis=axes, keepdims=True)

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return y * (dy - np.sum(dy * y, axis=axes, keepdims=True))

        return y, backprop

    def _args(self) -> dict:
        return {"axis": self.axis}
