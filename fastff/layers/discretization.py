"""Discretization (Keras 3 preprocessing): numbers to bin ids by ``bin_boundaries``.

Bin ``i`` holds ``boundaries[i-1] <= x < boundaries[i]`` (``np.digitize``, as Keras).
``adapt(data)`` picks ``num_bins - 1`` boundaries at the data's quantiles (computed exactly
over all the data, so ``epsilon``, Keras's sketch tolerance, is kept only for the config).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace
from fastff.layers.category_encoding import MODES, _zero_backprop, encode_categorical
from fastff.layers.normalization import _batches


class Discretization(Layer):
    min_input_ndim = 1

    def __init__(self, bin_boundaries: Any = None, num_bins: int | None = None,
                 epsilon: float = 0.01, output_mode: str = "int", sparse: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if output_mode not in ("int", *MODES):
            raise ValueError(f"Discretization: output_mode must be 'int' or one of {MODES}, "
                             f"got {output_mode!r}")
        if bin_boundaries is not None and num_bins is not None \
                and len(bin_boundaries) != num_bins - 1:
            raise ValueError(f"Discretization: {len(bin_boundaries)} bin_boundaries make "
                             f"{len(bin_boundaries) + 1} bins, but num_bins={num_bins!r}")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(
                num_bins, (int, np.integer)) or num_bins < 1):
            raise ValueError(f"Discretization: num_bins must be a positive integer, got "
                             f"{num_bins!r}")
        self.bin_boundaries = None if bin_boundaries is None else self._checked(bin_boundaries)
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    @staticmethod
    def _checked(boundaries: Any) -> list[float]:
        b = [float(v) for v in boundaries]
        if any(not np.isfinite(v) for v in b) or any(x > y for x, y in zip(b, b[1:])):
            raise ValueError(f"Discretization: bin_boundaries must be finite and sorted, got "
                             f"{b}")
        return b

    @property
    def _depth(self) -> int:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return int(self.num_bins)

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Boundaries at the ``1/num_bins, 2/num_bins, ...`` quantiles of ``data``."""
        if self.num_bins is None:
            raise ValueError("Discretization: adapt() needs num_bins")
        parts = [np.asarray(b, dtype=np.float64).ravel() for i, b in
                 enumerate(_batches(data, batch_size)) if steps is None or i < steps]
        values = np.concatenate(parts) if parts else np.empty(0)
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError("Discretization.adapt: data must be non-empty and finite")
        qs = np.linspace(0.0, 1.0, self.num_bins + 1)[1:-1]
        self.bin_boundaries = [float(v) for v in np.quantile(values, qs)]
        self.num_bins = len(self.bin_boundaries) + 1

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.output_mode == "int":
            return tuple(input_shape)
        if self.output_mode == "one_hot" and len(input_shape) == 1 and input_shape[0] != 1:
            return (*input_shape, self._depth)
        return (self._depth,)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if self.bin_boundaries is None:
            raise ValueError(f"{self.name}: no bin boundaries; pass bin_boundaries or call "
                             "adapt() first")
        a = np.asarray(x, dtype=np.float64)
        ids = np.digitize(a, np.asarray(self.bin_boundaries)).astype(np.int64)
        dt = self.dtype or np.dtype(np.float32)
        y = ids if self.output_mode == "int" else \
            encode_categorical(ids, self.output_mode, self._depth, dt, self.name)
        return y, _zero_backprop(a.shape, dt)

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        a = np.asarray(x)
        if not self.built:
            self.build_for(a.shape[1:], self.dtype)
        return self.forward(a, training)[0]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(bin_boundaries=self.bin_boundaries,
                   num_bins=self.num_bins,
                   epsilon=self.epsilon, output_mode=self.output_mode, sparse=self.sparse)
        return cfg
