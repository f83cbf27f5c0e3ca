"""CategoryEncoding (Keras 3 preprocessing): integer ids to one-hot, multi-hot or count rows.

``encode_categorical`` is the one encoder the id-producing preprocessing layers share
(``Discretization``, ``IntegerLookup``, ``StringLookup`` with a non-"int" ``output_mode``).
Ids are not differentiable: no gradient flows back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace

MODES = ("one_hot", "multi_hot", "count")


def encode_categorical(ids: np.ndarray, mode: str, depth: int, dtype: Any,
                       owner: str) -> np.ndarray:
    """Keras's ``encode_categorical_inputs``: ``one_hot`` maps ``(n,)``/``(n, 1)`` to
    ``(n, depth)`` and ``(n, k)`` to ``(n, k, depth)``; ``multi_hot``/``count`` map ``(n,)`` or
    ``(n, k)`` to ``(n, depth)``. Negative ids (dropped mask tokens) set nothing."""
    a = np.asarray(ids)
    if a.dtype.kind == "f":
        a = np.rint(a)
    a = a.astype(np.int64)
    if a.ndim == 0 or a.ndim > 2:
        raise ValueError(f"{owner}: expected ids of shape (batch,) or (batch, k), got {a.shape}")
    if a.size and int(a.max()) >= depth:
        raise ValueError(f"{owner}: ids must lie in [0, {depth}), got a maximum of "
                         f"{int(a.max())}")
    if mode == "one_hot":
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        out = np.zeros((*a.shape, depth), dtype=dtype)
        valid = a >= 0
        idx = np.nonzero(valid)
        out[(*idx, a[valid])] = 1
        return out
    a2 = a.reshape(a.shape[0], -1)
    out = np.zeros((a2.shape[0], depth), dtype=dtype)
    rows = np.broadcast_to(np.arange(a2.shape[0])[:, None], a2.shape)
    valid = a2 >= 0
    if mode == "multi_hot":
        out[rows[valid], a2[valid]] = 1
    else:
        np.add.at(out, (rows[valid], a2[valid]), 1)
    return out


def _zero_backprop(shape: tuple[int, ...], dtype: Any):
    def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        return np.zeros(shape, dtype=dtype) if need_dx else None

    return backprop


class CategoryEncoding(Layer):
    """``num_tokens`` columns; ``sparse=True`` is accepted but the output is dense (fastff
    has no sparse tensors; a following Dense skips the zeros in its GEMM)."""

    input_dtype = np.dtype(np.int64)
    min_input_ndim = 1

    def __init__(self, num_tokens: int | None = None, output_mode: str = "multi_hot",
                 sparse: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) \
                or num_tokens <= 0:
            raise ValueError(f"CategoryEncoding: num_tokens must be a positive integer, got "
                             f"{num_tokens!r}")
        if output_mode not in MODES:
            raise ValueError(f"CategoryEncoding: output_mode must be one of {MODES}, got "
                             f"{output_mode!r}")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.output_mode == "one_hot" and len(input_shape) == 1 and input_shape[0] != 1:
            return (*input_shape, self.num_tokens)
        return (self.num_tokens,)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        a = np.asarray(x)
        if a.size and int(np.min(a)) < 0:
            raise ValueError(f"{self.name}: ids must lie in [0, {self.num_tokens}), got a "
                             f"minimum of {int(np.min(a))}")
        dt = self.dtype or np.dtype(np.float32)
        y = encode_categorical(a, self.output_mode, self.num_tokens, dt, self.name)
        return y, _zero_backprop(a.shape, dt)

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        a = np.asarray(x)
        if not self.built:
            self.build_for(a.shape[1:], self.dtype)
        return self.forward(a, training)[0]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(num_tokens=self.num_tokens, output_mode=self.output_mode, sparse=self.sparse)
        return cfg
