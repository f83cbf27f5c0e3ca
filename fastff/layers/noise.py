"""Noise layers (Keras 3): GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout1D.

Active only in training (identity at inference). Their noise is a function of
``(seed, step)`` alone, like ``Dropout``'s mask (they share its seed and step bookkeeping, so
a model advances, saves and restores them the same way): a fixed ``seed`` gives the same noise
run after run. Gaussian draws come from NumPy's PCG64 seeded with ``(seed, step)``; keep/drop
decisions from ``ops.dropout_mask``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace
from fastff.layers.dropout import Dropout, resolve_noise_shape

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _identity(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
    return dy if need_dx else None


class _SeededNoise(Dropout):
    """Dropout's seed/step state for the other noise layers (never on the compiled path,
    which takes only exact ``Dropout`` instances)."""

    def _normal(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if self._mask_seed is None:
            self.build(())
        rng = np.random.default_rng([int(self._mask_seed), int(self.step)])
        return rng.standard_normal(shape).astype(dtype)

    def _scaled(self, x: np.ndarray, factor: np.ndarray):
        y = x * factor

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return dy * factor if need_dx else None

        return y, backprop


class GaussianNoise(_SeededNoise):
    """Training: ``x + N(0, stddev²)``."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(0.0, seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"GaussianNoise: stddev must be a number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if not training or self.stddev == 0.0:
            return x, _identity
        noise = self._normal(x.shape, x.dtype) * x.dtype.type(self.stddev)
        return x + noise, _identity

    def get_config(self) -> dict:
        cfg = Layer.get_config(self)
        cfg.update(stddev=self.stddev, seed=self.seed)
        return cfg


class GaussianDropout(_SeededNoise):
    """Training: ``x * N(1, rate / (1 - rate))`` (multiplicative noise, mean 1)."""

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if not training or self.rate == 0.0:
            return x, _identity
        std = math.sqrt(self.rate / (1.0 - self.rate))
        factor = self._normal(x.shape, x.dtype) * x.dtype.type(std) + x.dtype.type(1)
        return self._scaled(x, factor)

    def get_config(self) -> dict:
        cfg = Layer.get_config(self)
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


class AlphaDropout(_SeededNoise):
    """Dropout that keeps SELU's self-normalization: dropped units go to ``-alpha*scale``,
    then an affine map restores mean and variance (Keras's formula)."""

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if not training or self.rate == 0.0:
            return x, _identity
        rate = self.rate
        shape = x.shape if self.noise_shape is None else \
            resolve_noise_shape(self.noise_shape, x.shape, self.name)
        kept = (self.mask(shape, x.dtype) != 0).astype(x.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate
        t = x.dtype.type
        y = t(a) * (x * kept + t(alpha_p) * (t(1) - kept)) + t(b)
        factor = t(a) * kept

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return dy * factor if need_dx else None

        return y, backprop


class SpatialDropout1D(Dropout):
    """Drops whole feature channels of ``(batch, steps, features)`` inputs: one mask entry
    per (sample, channel), shared by all steps (``noise_shape=(batch, 1, features)``)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        super().__init__(rate, seed=seed, **kwargs)
        self.noise_shape = (None, 1, None)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"SpatialDropout1D {self.name!r} expects 3-D inputs (batch, steps, "
                             f"features), got per-sample shape {input_shape}")
        super().build(input_shape)

    def get_config(self) -> dict:
        cfg = Layer.get_config(self)
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg
