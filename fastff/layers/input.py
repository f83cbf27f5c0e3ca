"""Input: declares the per-sample input shape of a Sequential model (holds no weights).

``fastff.Input(shape=(784,))`` plays the role of Keras's ``keras.Input``: put it first in a
``Sequential`` list. It is not counted among ``model.layers``, as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace, _as_shape
from fastff.layers.symbolic import SymbolicInput


class Input(Layer, SymbolicInput):
    def __init__(self, shape: Any = None, batch_size: int | None = None, dtype: Any = None,
                 batch_shape: Any = None, name: str | None = None, **kwargs: Any):
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
            batch_size = batch_size or tuple(batch_shape)[0]
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(784,))")
        # integer inputs (token ids for Embedding layers in a functional Model) and strings
        # (for TextVectorization / StringLookup) keep their dtype
        int_dtype = None
        if dtype in ("string", "str", str, object, "object"):
            int_dtype, dtype = np.dtype(object), None
        elif dtype is not None and np.dtype(dtype).kind in "iu":
            int_dtype, dtype = np.dtype(dtype), None
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.input_dtype = int_dtype
        self.input_shape_decl = _as_shape(shape)
        self.batch_size = batch_size

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (self.batch_size, *self.input_shape_decl)

    @property
    def input(self) -> Input:
        """An ``Input`` is its own symbolic tensor (Keras's ``InputLayer.output``)."""
        return self

    @property
    def output(self) -> Input:
        return self

    def lower(self, builder: Any) -> bool:
        """The identity."""
        return builder.identity(self)

    def forward(self, x, training: bool = False, ws: Workspace | None = None):
        return x, lambda dy, need_dx=True: dy if need_dx else None

    def get_config(self) -> dict:
        cfg = {"name": self.name, "shape": list(self.input_shape_decl),
               "batch_size": self.batch_size}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype.name
        if self.input_dtype is not None:
            cfg["dtype"] = "string" if self.input_dtype.kind == "O" else self.input_dtype.name
        return cfg


InputLayer = Input
