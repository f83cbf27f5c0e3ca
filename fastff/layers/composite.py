"""``Composite``: a layer made of other layers (a functional graph, a model used as a layer).

Its weights are its inner layers' own ``Param`` objects (``inner_layers``, each once), frozen
together when the composite is not trainable, and setting its ``ops`` sets theirs.
"""

from __future__ import annotations

from typing import Any

from fastff.layers.base import Layer

__all__ = ["Composite"]


class Composite(Layer):
    """Base class: subclasses define ``inner_layers``."""

    @property
    def inner_layers(self) -> list[Layer]:
        raise NotImplementedError

    @property
    def params(self) -> list:  # type: ignore[override]
        return [p for layer in self.inner_layers for p in layer.params]

    @params.setter
    def params(self, value: list) -> None:  # Layer.__init__ assigns []
        pass

    @property
    def trainable_params(self) -> list:
        if not self.trainable:
            return []
        return [p for layer in self.inner_layers for p in layer.trainable_params]

    @property
    def non_trainable_params(self) -> list:
        if not self.trainable:
            return self.params
        return [p for layer in self.inner_layers for p in layer.non_trainable_params]

    @property
    def ops(self) -> Any:
        return Layer.ops.fget(self)

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value
        try:
            inner = self.inner_layers
        except (AttributeError, KeyError):  # Layer.__init__ sets ops before the inner layers
            return
        for layer in inner:
            layer.ops = value
