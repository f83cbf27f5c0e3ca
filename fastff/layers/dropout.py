"""Inverted dropout: in training multiply by a 0 or 1/(1-rate) mask; identity at inference.

The mask comes from ``ops.dropout_mask(shape, rate, seed, counter)``, a counter-based hash, so it
depends only on (seed, step, index): runs are reproducible whatever the thread count. ``step``
is set by the model before each training step (from the optimizer's iteration count); direct
``layer(x, training=True)`` calls advance it themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import config
from fastff._validation import check_int, check_real
from fastff.layers.base import Layer, Workspace, buffer


class Dropout(Layer):
    supports_masking = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Dropout:
        # with a noise_shape the instance is of a private subclass (serialized and shown as
        # "Dropout"), so paths that take exact Dropout instances (the compiled Dense+Dropout
        # step, whose mask covers the whole activation) leave it to the general loop
        noise_shape = kwargs.get("noise_shape", args[1] if len(args) > 1 else None)
        if cls is Dropout and noise_shape is not None:
            cls = _BroadcastDropout
        return super().__new__(cls)

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        rate = check_real(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.noise_shape = _noise_shape(noise_shape, "Dropout")
        self.rate = float(rate)
        self.seed = check_int(seed, "seed", low=0, allow_none=True)
        self._mask_seed = self.seed
        self.step = 0

    def build(self, input_shape: tuple[int, ...]) -> None:
        if self._mask_seed is None:
            self._mask_seed = config.draw_seed() % (2**31)

    def mask(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The mask for the current ``step``."""
        if self._mask_seed is None:
            self._mask_seed = config.draw_seed() % (2**31)
        return self.ops.dropout_mask(shape, self.rate, self._mask_seed, int(self.step), dtype)

    def lower(self, builder: Any) -> bool:
        """A full-mask dropout in front of the next unit (not with a ``noise_shape``)."""
        return self.noise_shape is None and builder.dropout(self, self.rate, self._mask_seed)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if not training or self.rate == 0.0:
            return x, _identity_backprop
        if self.noise_shape is not None:
            return self._forward_broadcast(x)
        mask = self.mask(x.shape, x.dtype)
        y = self.ops.multiply(x, mask, out=buffer(ws, "y", x.shape, x.dtype))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return self.ops.multiply(dy, mask, out=buffer(ws, "dx", x.shape, x.dtype))

        return y, backprop

    def _forward_broadcast(self, x: np.ndarray):
        """``noise_shape``: one mask of that shape (None entries = x's), broadcast over x."""
        shape = resolve_noise_shape(self.noise_shape, x.shape, self.name)
        mask = self.mask(shape, x.dtype)
        y = x * mask

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return dy * mask if need_dx else None

        return y, backprop

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        y = super()._eager_call(x, training)
        if training:
            self.step += 1
        return y

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed,
                   noise_shape=None if self.noise_shape is None else list(self.noise_shape))
        return cfg


def _noise_shape(noise_shape: Any, owner: str) -> tuple | None:
    """``noise_shape`` checked: None, or a sequence of positive ints / None (batch included)."""
    if noise_shape is None:
        return None
    items = list(noise_shape) if isinstance(noise_shape, (list, tuple)) else None
    if not items or any(d is not None and (isinstance(d, bool) or not isinstance(
            d, (int, np.integer)) or d <= 0) for d in items):
        raise ValueError(f"{owner}: noise_shape must be a tuple of positive ints or None "
                         f"(batch axis included), got {noise_shape!r}")
    return tuple(None if d is None else int(d) for d in items)


def resolve_noise_shape(noise_shape: tuple, shape: tuple[int, ...], name: str) -> tuple:
    """``noise_shape`` with None entries taken from ``shape``; each entry must be 1 or the
    size of its axis (so the mask broadcasts)."""
    if len(noise_shape) != len(shape):
        raise ValueError(f"{name}: noise_shape {noise_shape} must have one entry per axis of "
                         f"the input shape {shape}")
    out = tuple(s if d is None else d for d, s in zip(noise_shape, shape))
    if any(d not in (1, s) for d, s in zip(out, shape)):
        raise ValueError(f"{name}: noise_shape {noise_shape} does not broadcast to the input "
                         f"shape {shape}")
    return out


class _BroadcastDropout(Dropout):
    """``Dropout(noise_shape=...)`` (see ``Dropout.__new__``)."""


_BroadcastDropout.__name__ = _BroadcastDropout.__qualname__ = "Dropout"


def _identity_backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
    return dy if need_dx else None
