"""Global pooling over the steps of a sequence (Keras 3): average and max.

``GlobalAveragePooling1D`` takes an optional ``mask`` (``(batch, steps)``, True = real step):
then it averages only the real steps, ``Σ x·m / Σ m`` (Keras; a row with no real step gives
0/0 = NaN, as Keras). ``GlobalMaxPooling1D`` ignores masks, as Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers._host import require_host
from fastff.layers.base import Layer, Workspace
from fastff.layers.masking import as_mask

_FORMATS = ("channels_last", "channels_first")


class _GlobalPooling1D(Layer):
    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if data_format is None:
            data_format = "channels_last"
        if data_format not in _FORMATS:
            raise ValueError(f"{type(self).__name__}: data_format must be one of {_FORMATS}, "
                             f"got {data_format!r}")
        self.data_format = data_format
        self.keepdims = bool(keepdims)

    @property
    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects 3-D inputs "
                             f"(batch, steps, features), got per-sample shape {input_shape}")

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = list(input_shape)
        if self.keepdims:
            shape[self._steps_axis - 1] = 1
        else:
            del shape[self._steps_axis - 1]
        return tuple(shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(data_format=self.data_format, keepdims=self.keepdims)
        return cfg


class GlobalAveragePooling1D(_GlobalPooling1D):
    mask_consumer = True

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs: Any):
        super().__init__(data_format, keepdims, **kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None,
                mask: Any = None):
        require_host(x, self)
        ax = self._steps_axis
        shape = x.shape
        if mask is None:
            scale = x.dtype.type(1) / x.dtype.type(shape[ax])
            y = x.sum(axis=ax, keepdims=True) * scale
            weights = None
        else:
            m = as_mask(mask, (shape[0], shape[ax]), self.name).astype(x.dtype)
            m = m[:, :, None] if ax == 1 else m[:, None, :]
            count = m.sum(axis=ax, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                y = (x * m).sum(axis=ax, keepdims=True) / count
                weights = m / count
        out = np.ascontiguousarray(y if self.keepdims else np.squeeze(y, axis=ax))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            d = dy.reshape(y.shape)
            if weights is None:
                return np.ascontiguousarray(np.broadcast_to(d * scale, shape))
            return np.ascontiguousarray(d * weights)

        return out, backprop

    def _eager_call(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        """``layer(x, mask=mask)`` as in Keras."""
        arr = np.asarray(x)
        if not self.built:
            self.build_for(arr.shape[1:], self.dtype)
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        return self.forward(arr, training, None, mask=mask)[0]


class GlobalMaxPooling1D(_GlobalPooling1D):
    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        require_host(x, self)
        ax = self._steps_axis
        shape = x.shape
        arg = np.expand_dims(np.argmax(x, axis=ax), ax)  # the first maximum (or NaN) wins
        y = np.take_along_axis(x, arg, axis=ax)
        out = np.ascontiguousarray(y if self.keepdims else np.squeeze(y, axis=ax))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            dx = np.zeros(shape, dtype=dy.dtype)
            np.put_along_axis(dx, arg, dy.reshape(y.shape), axis=ax)
            return dx

        return out, backprop
