"""EmbeddingBag: the sum or mean of a variable number of embedded ids per sample.

The Deep Averaging Network's input layer. Takes a padded ``(n, L)`` id matrix (padding ids are
excluded from the sum and from the count) or a list of variable-length id arrays (padded here).
One fused gather-and-average kernel forward; a scatter-add backward that touches only the
rows used (row-sparse gradient, see ``Embedding``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff._validation import check_int
from fastff.layers.base import Workspace, buffer
from fastff.layers.embedding import Embedding, as_ids


class EmbeddingBag(Embedding):
    """``y[i] = mean`` (or ``sum``) of ``table[ids[i, k]]`` over ``ids[i, k] != padding_id``.

    ``padding_id=None``: no padding. A row holding only padding gives zeros.
    """

    min_input_ndim = 2

    def __init__(self, input_dim: int, output_dim: int, mode: str = "mean",
                 padding_id: int | None = 0, **kwargs: Any):
        kwargs.pop("mask_zero", None)
        super().__init__(input_dim, output_dim, **kwargs)
        if mode not in ("mean", "sum"):
            raise ValueError(f"EmbeddingBag: mode must be 'mean' or 'sum', got {mode!r}")
        self.mode = mode
        self.padding_id = check_int(padding_id, "padding_id", low=0, high=self.input_dim - 1,
                                    allow_none=True)

    @property
    def pad_id(self) -> int:
        return -1 if self.padding_id is None else self.padding_id

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.output_dim,)

    def _ids(self, x: Any) -> np.ndarray:
        if isinstance(x, (list, tuple)) and (not x or np.ndim(x[0]) == 1):
            from fastff.data import pad_sequences

            x = pad_sequences(x, value=max(self.pad_id, 0), dtype="int64")
            if self.padding_id is None and x.size:
                raise ValueError(f"{self.name}: variable-length lists need a padding_id")
        ids = as_ids(x, self.input_dim, self.name)
        if ids.ndim != 2:
            raise ValueError(f"{self.name}: expected an (n, length) id matrix or a list of id "
                             f"arrays, got shape {ids.shape}")
        return ids

    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        ops = self.ops
        table = self.embeddings
        ids = self._ids(x)
        dt = table.value.dtype
        pad, mode = self.pad_id, self.mode
        y = ops.embedding_bag(table.value, ids, pad, mode,
                              out=buffer(ws, "y", (ids.shape[0], self.output_dim), dt))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if self.trainable and table.trainable:
                prev = table.rows if table.sparse else None
                table.rows = ops.backprop_embedding_bag(dy, ids, table.grad, pad, mode, prev)
            return np.zeros(ids.shape, dtype=dt) if need_dx else None

        return y, backprop

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        ids = self._ids(x)
        if not self.built:
            self.build_for(ids.shape[1:], self.dtype)
        y, _ = self.forward(ids, training)
        return y

    def build_for(self, input_shape: tuple[int, ...], dtype: Any = None) -> tuple[int, ...]:
        # any bag length works with the same table: rebuild-free for a new padded length
        if self.built and tuple(input_shape) != self.input_shape:
            return self.compute_output_shape(input_shape)
        return super().build_for(input_shape, dtype)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("mask_zero", None)
        cfg.update(mode=self.mode, padding_id=self.padding_id)
        return cfg
