"""Merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

Multi-input like ``Concatenate`` (``multi_input = True``): ``forward`` takes a list of arrays
of one per-sample shape (``Dot``: two arrays) and ``backprop`` returns one ``dx`` per input.
Used in the functional API, e.g. residual blocks ``Add()([x, Dense(n)(x)])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers._host import require_host
from fastff.layers.base import Layer, Workspace
from fastff.layers.unit_normalization import l2_normalize


class Merge(Layer):
    """Base of the elementwise merges: inputs of equal per-sample shape."""

    multi_input = True
    min_inputs = 2

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_shapes(self, shapes: list[tuple[int, ...]]) -> None:
        name = type(self).__name__
        if len(shapes) < self.min_inputs:
            raise ValueError(f"{name} {self.name!r} needs at least {self.min_inputs} inputs, "
                             f"got {len(shapes)}")
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{name} {self.name!r}: all inputs must have the same shape, got "
                             f"per-sample shapes {shapes}")

    def _shapes(self, input_shape: Any) -> list[tuple[int, ...]]:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{type(self).__name__} {self.name!r} takes a list of inputs, "
                             f"got shape {input_shape!r}")
        return [tuple(int(d) for d in s) for s in input_shape]

    def build_for(self, input_shape: Any, dtype: Any = None) -> tuple[int, ...]:
        shapes = self._shapes(input_shape)
        self._check_shapes(shapes)
        if not self.built:
            self.dtype = self.dtype or np.dtype(dtype or "float32")
            self.built = True
        self.input_shape = tuple(shapes)
        return self.compute_output_shape(shapes)

    def compute_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        shapes = self._shapes(input_shape)
        self._check_shapes(shapes)
        return shapes[0]

    def forward(self, xs: Any, training: bool = False, ws: Workspace | None = None):
        require_host(xs, self)
        xs = [np.asarray(x) for x in xs]
        self._check_shapes([x.shape[1:] for x in xs])
        if any(x.shape[0] != xs[0].shape[0] for x in xs):
            raise ValueError(f"{type(self).__name__} {self.name!r}: inputs have different "
                             f"batch sizes {[x.shape[0] for x in xs]}")
        y, grads = self._merge(xs)

        def backprop(dy: np.ndarray, need_dx: bool = True) -> list | None:
            return [np.ascontiguousarray(g(dy)) for g in grads] if need_dx else None

        return np.ascontiguousarray(y), backprop

    def _merge(self, xs: list[np.ndarray]):
        """``(y, [dx_i(dy) for each input])``."""
        raise NotImplementedError

    def _eager_call(self, xs: Any, training: bool = False) -> Any:
        arrs = [np.asarray(x) for x in xs]
        dt = self.dtype or np.result_type(*[a.dtype for a in arrs])
        arrs = [np.ascontiguousarray(a, dtype=dt) for a in arrs]
        if not self.built:
            self.build_for([a.shape[1:] for a in arrs], dt)
        return self.forward(arrs, training)[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray | None:
        """Keras: a timestep is kept when every input that has a mask keeps it."""
        if mask is None or all(m is None for m in mask):
            return None
        ms = [np.asarray(m, dtype=bool) for m in mask if m is not None]
        return np.logical_and.reduce(ms)


def _same(dy: np.ndarray) -> np.ndarray:
    return dy


class Add(Merge):
    def _merge(self, xs):
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return y, [_same] * len(xs)


class Subtract(Merge):
    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"Subtract {self.name!r} takes exactly 2 inputs, got {len(shapes)}")
        super()._check_shapes(shapes)

    def _merge(self, xs):
        return xs[0] - xs[1], [_same, np.negative]


class Multiply(Merge):
    def _merge(self, xs):
        y = xs[0].copy()
        for x in xs[1:]:
            y *= x

        def grad(i):
            def g(dy):
                out = dy.copy()
                for j, x in enumerate(xs):
                    if j != i:
                        out *= x
                return out
            return g

        return y, [grad(i) for i in range(len(xs))]


class Average(Merge):
    def _merge(self, xs):
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        k = y.dtype.type(len(xs))
        y /= k
        return y, [lambda dy: dy / k] * len(xs)


class _Extremum(Merge):
    _pick: Any = None

    def _merge(self, xs):
        # the first input holding the extreme value takes the whole gradient (NaN wins,
        # as np.maximum / np.minimum propagate it)
        y = xs[0].copy()
        owner = np.zeros(y.shape, dtype=np.int64)
        for i, x in enumerate(xs[1:], 1):
            new = self._pick(x, y)
            take = (new != y) & ~np.isnan(y) | (np.isnan(new) & ~np.isnan(y))
            owner[take] = i
            y = new

        def grad(i):
            return lambda dy: np.where(owner == i, dy, 0).astype(dy.dtype)

        return y, [grad(i) for i in range(len(xs))]


class Maximum(_Extremum):
    _pick = staticmethod(np.maximum)


class Minimum(_Extremum):
    _pick = staticmethod(np.minimum)


class Dot(Merge):
    """Batch dot product of two inputs along ``axes`` (per input, counting the batch axis);
    ``normalize=True`` L2-normalizes both along those axes first (cosine similarity).

    Inputs of rank 2 or 3; output as ``keras.layers.Dot``: ``(n, 1)`` for two vectors, else
    the remaining axes of the first input followed by those of the second."""

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
            axes = (int(axes), int(axes))
        if not (isinstance(axes, (list, tuple)) and len(axes) == 2
                and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                        for a in axes)):
            raise ValueError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
        self.axes = [int(a) for a in axes]
        self.normalize = bool(normalize)
        self.supports_masking = False

    def _resolved(self, shapes):
        axes = []
        for a, s in zip(self.axes, shapes):
            rank = len(s) + 1
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"Dot {self.name!r}: axis {a} is not a feature axis of "
                                 f"inputs of per-sample shape {s}")
            axes.append(a % rank)
        return axes

    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"Dot {self.name!r} takes exactly 2 inputs, got {len(shapes)}")
        if any(len(s) not in (1, 2) for s in shapes):
            raise ValueError(f"Dot {self.name!r}: inputs must be of rank 2 or 3, got per-sample "
                             f"shapes {shapes}")
        a, b = self._resolved(shapes)
        if shapes[0][a - 1] != shapes[1][b - 1]:
            raise ValueError(f"Dot {self.name!r}: axis {a} of the first input "
                             f"({shapes[0][a - 1]}) and axis {b} of the second "
                             f"({shapes[1][b - 1]}) differ in size")

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        self._check_shapes(shapes)
        a, b = self._resolved(shapes)
        rest = [d for i, d in enumerate(shapes[0], 1) if i != a] + \
               [d for i, d in enumerate(shapes[1], 1) if i != b]
        return tuple(rest) if rest else (1,)

    def _merge(self, xs):
        a_ax, b_ax = self._resolved([x.shape[1:] for x in xs])
        x1, x2 = xs
        bp1 = bp2 = None
        if self.normalize:
            x1, bp1 = l2_normalize(x1, (a_ax,), 1e-7)
            x2, bp2 = l2_normalize(x2, (b_ax,), 1e-7)
        n = x1.shape[0]
        A = np.moveaxis(x1, a_ax, -1).reshape(n, -1, x1.shape[a_ax])   # (n, P, K)
        B = np.moveaxis(x2, b_ax, 1).reshape(n, x2.shape[b_ax], -1)    # (n, K, S)
        Y = A @ B                                                        # (n, P, S)
        out_shape = (n, *self.compute_output_shape([x.shape[1:] for x in xs]))
        a_moved = np.moveaxis(x1, a_ax, -1).shape
        b_moved = np.moveaxis(x2, b_ax, 1).shape

        def g1(dy):
            dA = dy.reshape(Y.shape) @ np.swapaxes(B, 1, 2)
            d = np.moveaxis(dA.reshape(a_moved), -1, a_ax)
            return bp1(d) if bp1 is not None else d

        def g2(dy):
            dB = np.swapaxes(A, 1, 2) @ dy.reshape(Y.shape)
            d = np.moveaxis(dB.reshape(b_moved), 1, b_ax)
            return bp2(d) if bp2 is not None else d

        return Y.reshape(out_shape), [g1, g2]

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(axes=list(self.axes), normalize=self.normalize)
        return cfg
