"""Embedding and WindowEmbedding: look up rows of a table for integer ids.

``Embedding`` maps ids of per-sample shape ``()`` to ``(D,)`` and ``(L,)`` to ``(L, D)`` (Keras).
``WindowEmbedding`` takes an ``(n, W)`` window of ids per token (``fastff.data.windows``) and
outputs the concatenation of the W vectors, ``(n, W*D)``: the tagger's seq2col in one gather.

The gradient is row-sparse: backprop zeroes the rows it touched last time, scatter-adds the
batch's rows and records them in ``Param.rows``, and the model lets the optimizer update only
those rows (``Optimizer.apply_rows``, lazy semantics). A table with a regularizer is dense.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import constraints, initializers, regularizers
from fastff._validation import check_bool, check_index_range
from fastff.layers.base import Layer, Workspace, buffer


def _initializer(identifier: Any) -> initializers.Initializer:
    # Keras's "uniform" alias: U(-0.05, 0.05)
    return initializers.get("random_uniform" if identifier == "uniform" else identifier)


def as_ids(x: Any, input_dim: int, name: str) -> np.ndarray:
    """``x`` as a C-contiguous integer array with every id in ``[0, input_dim)``.

    Float arrays (a Sequential casts its input to the model dtype) are rounded. The range is
    checked because the kernels do not bounds-check.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        if a.dtype.kind != "f":
            raise TypeError(f"{name}: expected integer ids, got dtype {a.dtype}")
        a = np.rint(a).astype(np.int64)
    a = np.ascontiguousarray(a)
    check_index_range(a, input_dim, name)
    return a


class Embedding(Layer):
    """Trainable (or frozen) lookup table of ``input_dim`` rows of width ``output_dim``.

    ``weights``: a pretrained ``(input_dim, output_dim)`` array (e.g.
    ``fastff.data.embedding_matrix``); ``trainable=False`` freezes it. ``mask_zero``: id 0 is
    padding: it embeds to zeros and gets no gradient, and ``compute_mask`` gives Keras's
    mask ``ids != 0`` for mask-consuming layers downstream (``fastff.layers.masking``).
    """

    # as a model's first layer: ids stay integers; 1-D ids (n,) are accepted
    input_dtype = np.dtype(np.int64)
    min_input_ndim = 1

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False,
                 weights: Any = None, embeddings_constraint: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        for arg, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{type(self).__name__}: {arg} must be a positive integer, "
                                 f"got {v!r}")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = check_bool(mask_zero, "mask_zero")
        self._initial = None
        if weights is not None:
            w = np.asarray(weights[0] if isinstance(weights, (list, tuple)) else weights)
            if w.shape != (self.input_dim, self.output_dim):
                raise ValueError(f"{type(self).__name__}: weights must have shape "
                                 f"{(self.input_dim, self.output_dim)}, got {w.shape}")
            self._initial = w
        self.embeddings = None

    @property
    def pad_id(self) -> int:
        return 0 if self.mask_zero else -1

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.embeddings.sparse = self.embeddings_regularizer is None
        if self._initial is not None:
            self.embeddings.assign(self._initial)
            self._initial = None

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*tuple(input_shape), self.output_dim)

    def _lookup(self, x: Any, out_shape: tuple[int, ...], ws: Workspace | None):
        ops = self.ops
        table = self.embeddings
        ids = as_ids(x, self.input_dim, self.name)
        dt = table.value.dtype
        y = ops.embedding_gather(table.value, ids, self.pad_id,
                                 out=buffer(ws, "y", (ids.size, self.output_dim), dt))
        y = y.reshape(out_shape)
        pad = self.pad_id

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if self.trainable and table.trainable:
                prev = table.rows if table.sparse else None
                table.rows = ops.backprop_embedding_gather(dy, ids, table.grad, pad, prev)
            # ids are not differentiable: their gradient is zero
            return np.zeros(ids.shape, dtype=dt) if need_dx else None

        return y, backprop

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        a = np.asarray(x)
        return self._lookup(a, (*a.shape, self.output_dim), ws)

    def _eager_call(self, x: Any, training: bool = False) -> np.ndarray:
        a = np.asarray(x)
        if not self.built:
            self.build_for(a.shape[1:], self.dtype)
        y, _ = self.forward(a, training)
        return y

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray | None:
        """Keras: with ``mask_zero`` the mask ``ids != 0`` (True = real step), else None."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(input_dim=self.input_dim, output_dim=self.output_dim,
                   embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                   embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                   embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                   mask_zero=self.mask_zero)
        return cfg


class WindowEmbedding(Embedding):
    """Embeds an ``(n, W)`` window of ids and concatenates the W vectors: ``(n, W*D)``.

    One gather writes the ``(n*W, D)`` rows, which in memory already are the ``(n, W*D)``
    concatenation (seq2col). Several feature groups per token (word, suffix, shape) are
    several WindowEmbedding branches joined by ``Concatenate`` in a functional ``Model``.
    """

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 1:
            raise ValueError(f"WindowEmbedding {self.name!r} expects (n, window) id matrices, "
                             f"got per-sample shape {input_shape}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)) * self.output_dim,)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # the window is concatenated into one feature row: no steps to mask

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        a = np.asarray(x)
        if a.ndim != 2:
            raise ValueError(f"{self.name}: expected an (n, window) id matrix, got {a.shape}")
        return self._lookup(a, (a.shape[0], a.shape[1] * self.output_dim), ws)
