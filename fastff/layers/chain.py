"""``Chain``: layers applied one after the other, the network object a ``Sequential`` hands
the training loop (as a functional ``Model`` hands its graph, one chain of one graph layer).

The loop's engines walk the network only through it: the forward pass (masks threaded where a
layer makes them; the last layer's logits for a fused loss), the backward pass from the last
layer down to the first one that needs it, binding the ops, and the compiled form
(``lower``: every layer lowers, in order)."""

from __future__ import annotations

from typing import Any

from fastff._call_context import regularize_output
from fastff.layers.base import lowers
from fastff.layers.masking import forward_chain

__all__ = ["Chain"]


class Chain:
    """A list of layers (held, not copied: the model's own list) and whether masks flow."""

    __slots__ = ("layers", "mask_flow")

    def __init__(self, layers: list, mask_flow: bool = False) -> None:
        self.layers = layers
        self.mask_flow = mask_flow

    @property
    def first(self) -> Any:
        return self.layers[0]

    @property
    def output_activation(self) -> str | None:
        """The activation of the last layer a loss may fuse with."""
        return getattr(self.layers[-1], "output_activation", None)

    def bind(self, ops: Any) -> None:
        """Every layer computes with ``ops``."""
        for layer in self.layers:
            if layer._ops is not ops:
                layer.ops = ops

    def run(self, x: Any, training: bool, ws: list | None, logits_last: bool) -> tuple:
        """``(output, backprops)``: the forward pass (``ws[i]`` the workspace of layer i;
        logits of the last layer when ``logits_last``)."""
        layers = self.layers
        if self.mask_flow:  # masks from Embedding(mask_zero)/Masking threaded to consumers
            return forward_chain(layers, x, training, ws, logits_last)
        last = len(layers) - 1
        bps = [None] * len(layers)
        h = x
        for i, layer in enumerate(layers):
            w = None if ws is None else ws[i]
            if i == last and logits_last:
                h, bps[i] = layer.forward_logits(h, training, w)
            else:
                h, bps[i] = layer.forward(h, training, w)
            if layer.activity_regularizer is not None:
                h, bps[i] = regularize_output(layer, h, bps[i])
        return h, bps

    def infer(self, x: Any, ws: list | None) -> Any:
        """The output for ``x`` (inference, every activation applied)."""
        if self.mask_flow:
            return forward_chain(self.layers, x, False, ws, False)[0]
        h = x
        for i, layer in enumerate(self.layers):
            h, bp = layer.forward(h, False, None if ws is None else ws[i])
            if layer.activity_regularizer is not None:  # its loss of this call, as Keras
                regularize_output(layer, h, bp)
        return h

    @staticmethod
    def backward(bps: list, dy: Any, first: int | None, need_dx: bool = False) -> Any:
        """Backprop ``dy`` from the last layer down to layer ``first`` (None: no layer needs
        it); returns the input gradient when ``need_dx`` (then ``first`` is 0)."""
        if first is None:
            return None
        for i in range(len(bps) - 1, first - 1, -1):
            dy = bps[i](dy, i > first or need_dx)
        return dy if need_dx else None

    def lower(self, builder: Any) -> bool:
        """The compiled form: every layer's, in order."""
        for layer in self.layers:
            if not lowers(layer) or not layer.lower(builder):
                return False
        return True
