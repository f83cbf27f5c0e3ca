"""Rescaling (Keras 3 preprocessing): ``y = x * scale + offset`` (e.g. pixels to [0, 1])."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace


class Rescaling(Layer):
    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        for arg, v in (("scale", scale), ("offset", offset)):
            a = np.asarray(v)
            if a.dtype.kind not in "iuf" or a.dtype == bool:
                raise ValueError(f"Rescaling: {arg} must be a number or an array of numbers, "
                                 f"got {v!r}")
        self.scale = scale.tolist() if isinstance(scale, np.ndarray) else scale
        self.offset = offset.tolist() if isinstance(offset, np.ndarray) else offset
        self.supports_masking = True

    def lower(self, builder: Any) -> bool:
        """In front of a Dense unit, at inference (the compiled predict computes
        ``x * scale + offset`` as ``forward`` does, in the model dtype)."""
        return hasattr(builder, "rescale") and builder.rescale(self, self.scale, self.offset)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(self.dtype or np.float32)
        scale = np.asarray(self.scale, dtype=dt)
        y = np.asarray(x, dtype=dt) * scale + np.asarray(self.offset, dtype=dt)

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return np.ascontiguousarray(dy * scale) if need_dx else None

        return np.ascontiguousarray(y), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(scale=self.scale, offset=self.offset)
        return cfg
