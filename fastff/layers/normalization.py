"""Normalization (Keras 3 preprocessing): ``(x - mean) / max(sqrt(variance), 1e-7)``.

``mean``/``variance`` are given, or learned by ``adapt(data)``, which streams over batches and
merges their moments with Chan et al.'s parallel update (float64), so it is stable on large
or offset data. Adapted statistics are non-trainable weights (``mean``, ``variance``,
``count``), saved and restored with the model. ``invert=True`` maps back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fastff.layers._axes import normalize_axes
from fastff.layers.base import Layer, Workspace

_EPSILON = 1e-7  # keras.config.epsilon()


class Normalization(Layer):
    def __init__(self, axis: Any = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both mean and variance, or neither (then "
                             f"call adapt()); got mean={mean!r}, variance={variance!r}")
        if axis is not None:
            normalize_axes(axis, 64, "Normalization")
        self.axis = (None if axis is None else int(axis) if isinstance(axis, (int, np.integer))
                     else tuple(int(a) for a in axis))
        self.invert = bool(invert)
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)
        self.adapt_mean = self.adapt_variance = self.count = None
        self._pending: tuple | None = None  # statistics adapted before build
        self.supports_masking = True

    # ---- shapes -------------------------------------------------------------------------
    def _stat_shape(self, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple]:
        """(shape of the weights, shape they broadcast as against a batch)."""
        rank = len(input_shape) + 1
        keep = () if self.axis is None else normalize_axes(self.axis, rank, "Normalization")
        full = (1, *input_shape)
        bshape = tuple(full[a] if a in keep else 1 for a in range(rank))
        return tuple(full[a] for a in keep), bshape

    def build(self, input_shape: tuple[int, ...]) -> None:
        shape, self._bshape = self._stat_shape(input_shape)
        if self.input_mean is not None:
            for arg, v in (("mean", self.input_mean), ("variance", self.input_variance)):
                try:
                    np.broadcast_to(v, self._bshape)
                except ValueError:
                    raise ValueError(f"Normalization {self.name!r}: {arg} of shape {v.shape} "
                                     f"does not broadcast to the statistics shape {shape}") \
                        from None
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False)
            if self._pending is not None:
                self._store(*self._pending)
                self._pending = None

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self.input_mean is not None:
            m = np.broadcast_to(self.input_mean, self._bshape)
            v = np.broadcast_to(self.input_variance, self._bshape)
            return m, v
        return (self.adapt_mean.value.reshape(self._bshape),
                self.adapt_variance.value.reshape(self._bshape))

    # ---- adapt --------------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn mean and variance of ``data`` (an array, or an iterable of batches / of
        ``(x, y)`` pairs), streamed ``batch_size`` rows at a time (default 32) for at most
        ``steps`` batches. Replaces earlier statistics (Keras)."""
        if self.input_mean is not None:
            raise ValueError("Normalization: adapt() cannot change a mean and variance given "
                             "to the constructor")
        n_tot, mean, m2 = 0, None, None
        keep = None
        for b, batch in enumerate(_batches(data, batch_size)):
            if steps is not None and b >= steps:
                break
            a = np.asarray(batch, dtype=np.float64)
            if a.ndim == 1:
                a = a[:, None]
            if not np.isfinite(a).all():
                raise ValueError("Normalization.adapt: data must be finite")
            if keep is None:
                keep = () if self.axis is None else normalize_axes(self.axis, a.ndim,
                                                                   "Normalization")
                red = tuple(i for i in range(a.ndim) if i not in keep)
                sample = a.shape[1:]
            elif a.shape[1:] != sample:
                raise ValueError(f"Normalization.adapt: batches must share their per-sample "
                                 f"shape {sample}, got {a.shape[1:]}")
            nb = int(np.prod([a.shape[i] for i in red]))
            if nb == 0:
                continue
            mb = a.mean(axis=red)
            m2b = ((a - a.mean(axis=red, keepdims=True)) ** 2).sum(axis=red)
            if mean is None:
                n_tot, mean, m2 = nb, mb, m2b
            else:  # Chan, Golub & LeVeque: merge two sets of moments
                n = n_tot + nb
                delta = mb - mean
                mean = mean + delta * (nb / n)
                m2 = m2 + m2b + delta * delta * (n_tot * nb / n)
                n_tot = n
        if mean is None:
            raise ValueError("Normalization.adapt: no data")
        if not self.built:
            self.build_for(sample, self.dtype)
        self._store(mean, m2 / n_tot, n_tot)

    def _store(self, mean: np.ndarray, var: np.ndarray, count: float) -> None:
        if not self.built:
            self._pending = (mean, var, count)
            return
        self.adapt_mean.assign(np.reshape(mean, self.adapt_mean.shape))
        self.adapt_variance.assign(np.reshape(var, self.adapt_variance.shape))
        self.count.assign(np.full(self.count.shape, count, dtype=np.float64))

    # ---- running ------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        mean, var = self._moments()
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(self.dtype or np.float32)
        x = np.asarray(x, dtype=dt)
        std = np.maximum(np.sqrt(var), _EPSILON).astype(dt)
        mean = mean.astype(dt)
        y = mean + x * std if self.invert else (x - mean) / std

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return np.ascontiguousarray(dy * std if self.invert else dy / std)

        return np.ascontiguousarray(y), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(axis=list(self.axis) if isinstance(self.axis, tuple) else self.axis,
                   invert=self.invert,
                   mean=None if self.input_mean is None else self.input_mean.tolist(),
                   variance=None if self.input_variance is None
                   else self.input_variance.tolist())
        return cfg


def _batches(data: Any, batch_size: int | None) -> Iterable[Any]:
    """Batches of ``data``: slices of an array, or the items of an iterable (``x`` of an
    ``(x, y)`` pair)."""
    if isinstance(data, np.ndarray) or (isinstance(data, list) and data
                                         and not isinstance(data[0], np.ndarray)):
        a = np.asarray(data)
        step = int(batch_size or 32)
        if step <= 0:
            raise ValueError(f"adapt: batch_size must be a positive integer, got {batch_size!r}")
        for s in range(0, max(a.shape[0], 1), step):
            yield a[s:s + step]
        return
    for item in data:
        yield item[0] if isinstance(item, tuple) else item
