"""``Lambda(fn)``: a layer from a function written with ``fastff.ops`` (gradients from the
tape). As in Keras, the function itself cannot be saved: a model holding a Lambda saves its
weights (``save_weights``), and ``save`` refuses it with a clear error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastff.layers.base import Layer


class Lambda(Layer):
    """Wrap ``function(inputs, **arguments)`` as a layer (no weights)."""

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}")
        if mask is not None:
            raise NotImplementedError("Lambda: mask= is not supported by fastff")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict, got {type(arguments).__name__}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def call(self, inputs: Any, training: Any = None) -> Any:
        return self.function(inputs, **self.arguments)

    def get_config(self) -> dict:
        """The function object itself (a config for in-process clones; not JSON, so
        ``save`` refuses it and names this layer)."""
        cfg = super().get_config()
        cfg.update(function=self.function, arguments=dict(self.arguments))
        if self._output_shape is not None:
            cfg["output_shape"] = self._output_shape
        return cfg
