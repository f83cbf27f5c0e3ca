"""Keras 3's ``keras.random``: random tensors (NumPy arrays) with Keras's seed rules.

``seed=None`` draws from fastff's global generator (reproducible after
``fastff.utils.set_random_seed``); an integer seed gives the same values on every call; a
``SeedGenerator`` gives a new, reproducible draw on each call, as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import config
from fastff._validation import check_real

__all__ = ["SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout",
           "shuffle", "categorical"]


class SeedGenerator:
    """A seeded stream of draws: each call that is given it advances it (Keras's class)."""

    def __init__(self, seed: int | None = None, **_: Any):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"SeedGenerator: seed must be an integer or None, got {seed!r}")
        self._rng = np.random.default_rng(config.draw_seed() if seed is None else int(seed))

    def next(self) -> np.random.Generator:
        """A generator for the next draw."""
        return np.random.default_rng(int(self._rng.integers(0, 2**63 - 1)))


def _rng(seed: Any) -> np.random.Generator:
    if seed is None:
        return config.global_rng()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed: expected None, an integer or a fastff.random.SeedGenerator, "
                        f"got {seed!r}")
    return np.random.default_rng(int(seed))


def _shape(shape: Any) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0
           for d in shape):
        raise ValueError(f"shape: expected non-negative integers, got {shape!r}")
    return tuple(int(d) for d in shape)


def _float(dtype: Any) -> np.dtype:
    return config.standardize_dtype(dtype)


def normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
           seed: Any = None) -> np.ndarray:
    """Draws from N(mean, stddev²)."""
    return _rng(seed).normal(mean, stddev, size=_shape(shape)).astype(_float(dtype))


def uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None,
            seed: Any = None) -> np.ndarray:
    """Draws from U[minval, maxval)."""
    if not maxval > minval:
        raise ValueError(f"uniform: maxval must exceed minval, got {minval!r}, {maxval!r}")
    out = _rng(seed).uniform(minval, maxval, size=_shape(shape)).astype(_float(dtype))
    return np.minimum(out, np.nextafter(out.dtype.type(maxval), out.dtype.type(minval)))


def randint(shape: Any, minval: int, maxval: int, dtype: Any = "int32",
            seed: Any = None) -> np.ndarray:
    """Integers drawn uniformly from [minval, maxval)."""
    if not maxval > minval:
        raise ValueError(f"randint: maxval must exceed minval, got {minval!r}, {maxval!r}")
    return _rng(seed).integers(minval, maxval, size=_shape(shape)).astype(np.dtype(dtype))


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
                     seed: Any = None) -> np.ndarray:
    """Normal draws more than two standard deviations from the mean redrawn (as Keras)."""
    rng = _rng(seed)
    out = rng.standard_normal(size=_shape(shape))
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (mean + stddev * out).astype(_float(dtype))


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Any:
    """Zero each entry with probability ``rate`` and scale the rest by ``1/(1-rate)``; the
    mask is a constant, so inside recorded code the gradient flows through the kept entries."""
    from fastff import ops

    rate = check_real(rate, "rate", low=0.0)
    if rate >= 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    x_shape = tuple(ops.shape(inputs))
    shape = x_shape if noise_shape is None else tuple(
        x_shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    keep = _rng(seed).random(size=shape) >= rate
    dt = np.asarray(ops.convert_to_numpy(inputs)).dtype
    mask = (keep / (1.0 - rate)).astype(dt if dt.kind == "f" else np.float32)
    return ops.multiply(inputs, mask)


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> np.ndarray:
    """``x`` with its entries along ``axis`` in a random order."""
    arr = np.asarray(x)
    return np.take(arr, _rng(seed).permutation(arr.shape[axis]), axis=axis)


def categorical(logits: Any, num_samples: int, dtype: Any = "int32",
                seed: Any = None) -> np.ndarray:
    """``num_samples`` class ids per row of ``logits`` (batch, classes), drawn from
    softmax(logits)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"categorical: logits must be 2-D (batch, classes), got {z.shape}")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = _rng(seed).random(size=(z.shape[0], int(num_samples)))
    ids = np.minimum((u[:, :, None] >= cdf[:, None, :]).sum(-1), z.shape[1] - 1)
    return ids.astype(np.dtype(dtype))
