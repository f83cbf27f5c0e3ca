"""Concatenate: join several 2-D inputs along the feature axis (functional ``Model`` only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace, buffer, is_device_array


class Concatenate(Layer):
    """``y = [x_1 | x_2 | ...]`` along the last axis; backprop splits ``dy`` into the parts."""

    multi_input = True

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if axis not in (-1, 1):
            raise ValueError(f"Concatenate: only the feature axis (-1) is supported, got {axis}")
        self.axis = -1

    def build_for(self, input_shape: Any, dtype: Any = None) -> tuple[int, ...]:
        shapes = [tuple(int(d) for d in s) for s in input_shape]
        if len(shapes) < 2 or any(len(s) != 1 for s in shapes):
            raise ValueError(f"Concatenate {self.name!r} joins two or more (batch, features) "
                             f"inputs, got per-sample shapes {shapes}")
        if not self.built:
            self.dtype = self.dtype or np.dtype(dtype or "float32")
            self.built = True
        self.input_shape = tuple(shapes)
        return self.compute_output_shape(shapes)

    def compute_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        return (sum(int(s[-1]) for s in input_shape),)

    def forward(self, xs: Any, training: bool = False, ws: Workspace | None = None):
        if is_device_array(xs[0]):
            return self._forward_device(xs, ws)
        widths = [x.shape[1] for x in xs]
        n = xs[0].shape[0]
        dt = np.result_type(*[x.dtype for x in xs])
        y = buffer(ws, "y", (n, sum(widths)), dt)
        if y is None:
            y = np.empty((n, sum(widths)), dtype=dt)
        bounds = np.cumsum([0, *widths])
        for x, a, b in zip(xs, bounds[:-1], bounds[1:]):
            y[:, a:b] = x

        def backprop(dy: np.ndarray, need_dx: bool = True) -> list | None:
            if not need_dx:
                return None
            return [np.ascontiguousarray(dy[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

        return y, backprop

    def _forward_device(self, xs: Any, ws: Workspace | None):
        ops = self.ops
        widths = [int(x.shape[1]) for x in xs]
        dt = np.result_type(*[x.dtype for x in xs])
        y = ops.concat_columns(xs, out=buffer(ws, "y", (int(xs[0].shape[0]), sum(widths)), dt))

        def backprop(dy: Any, need_dx: bool = True) -> list | None:
            return ops.split_columns(dy, widths) if need_dx else None

        return y, backprop

    def _eager_call(self, xs: Any, training: bool = False) -> Any:
        return np.concatenate([np.asarray(x) for x in xs], axis=-1)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(axis=self.axis)
        return cfg
