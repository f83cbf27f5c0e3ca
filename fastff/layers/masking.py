"""Masks (Keras 3): ``Masking`` and the rule by which a mask travels from layer to layer.

A mask is a boolean ``(batch, steps)`` array: True where a timestep is real, False where it is
padding. It starts at ``Embedding(mask_zero=True)`` (ids != 0) or ``Masking`` (some feature
differs from ``mask_value``), passes through layers with ``supports_masking`` and is consumed
by layers whose ``forward`` takes ``mask=`` (``mask_consumer = True``, e.g.
``GlobalAveragePooling1D``, which then averages only the real steps).

A model loop threads masks with two calls per layer::

    y, bp = forward_masked(layer, x, training, ws, mask)
    mask = output_mask(layer, x, mask)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff._call_context import regularize_output
from fastff.layers.base import Layer, Workspace


def output_mask(layer: Any, inputs: Any, mask: Any) -> np.ndarray | None:
    """The mask of ``layer``'s output, by Keras's rule: the layer's own ``compute_mask`` when
    it has one; else the input mask when it ``supports_masking``; else None."""
    compute = getattr(layer, "compute_mask", None)
    if compute is not None:
        return compute(inputs, mask)
    if getattr(layer, "supports_masking", False):
        return mask
    return None


def makes_masks(layer: Any) -> bool:
    """Can ``layer`` start a mask (``Embedding(mask_zero=True)``, ``Masking``, or a layer
    that says so with ``produces_mask = True``)?"""
    return bool(getattr(layer, "produces_mask", False) or getattr(layer, "mask_zero", False)
                or isinstance(layer, Masking))


def forward_chain(layers: list, x: Any, training: bool, ws: list | None, logits_last: bool):
    """A layer stack's forward with masks threaded through (Keras's rule, ``output_mask``);
    the last layer gives logits when ``logits_last``. Returns ``(output, backprops)``."""
    bps = []
    mask = None
    h = x
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        w = None if ws is None else ws[i]
        if i == last and logits_last:
            y, bp = layer.forward_logits(h, training, w)
        else:
            y, bp = forward_masked(layer, h, training, w, mask)
        if layer.activity_regularizer is not None:
            y, bp = regularize_output(layer, y, bp)
        mask = output_mask(layer, h, mask) if i < last else None
        h = y
        bps.append(bp)
    return h, bps


def forward_masked(layer: Any, x: Any, training: bool, ws: Workspace | None, mask: Any):
    """``layer.forward`` with ``mask=`` when the layer consumes masks and there is one."""
    if mask is not None and getattr(layer, "mask_consumer", False):
        return layer.forward(x, training, ws, mask=mask)
    return layer.forward(x, training, ws)


def as_mask(mask: Any, shape: tuple[int, ...], owner: str) -> np.ndarray:
    """``mask`` as a boolean array of ``shape`` (clear error otherwise)."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{owner}: mask must have shape {tuple(shape)}, got {m.shape}")
    return m.astype(bool, copy=False)


class Masking(Layer):
    """Marks timesteps whose features all equal ``mask_value`` as padding and zeroes them."""

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise ValueError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"Masking {self.name!r} expects (batch, steps, features) inputs, "
                             f"got per-sample shape {input_shape}")

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray:
        x = np.asarray(inputs)
        return np.any(x != x.dtype.type(self.mask_value), axis=-1)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        keep = self.compute_mask(x)[..., None].astype(x.dtype)
        y = x * keep

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return dy * keep if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(mask_value=self.mask_value)
        return cfg


__all__ = ["Masking", "output_mask", "forward_masked", "as_mask", "makes_masks",
           "forward_chain"]
