"""Symbolic tensors: what calling a layer on a ``fastff.Input`` returns (the functional API).

``Dense(8)(inp)`` on an ``Input`` (or on another call's output) records a node instead of
computing; ``fastff.functional.Model`` later turns the recorded nodes into a graph. This sits
below the layers, as Keras keeps ``KerasTensor`` and ``Node`` below ``Layer``, so
``Layer.__call__`` needs no import from above. It imports no layer module: ``Input`` marks
itself a graph source by subclassing ``SymbolicInput``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SymbolicInput", "SymbolicTensor", "is_symbolic", "call_symbolic", "record_call",
           "first_call"]


class SymbolicInput:
    """Marker base of ``fastff.Input``: a graph source, symbolic like a ``SymbolicTensor``."""

    __slots__ = ()


class SymbolicTensor:
    """The (not yet computed) output of ``layer`` applied to ``inputs``."""

    def __init__(self, layer: Any, inputs: list, shape: tuple[int, ...]):
        self.layer = layer
        self.inputs = inputs
        self.shape = (None, *shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[1:])

    def __repr__(self) -> str:
        return f"<SymbolicTensor {self.layer.name} shape={self.shape}>"


def _sample_shape(t: Any) -> tuple[int, ...]:
    return tuple(t.input_shape_decl) if isinstance(t, SymbolicInput) else t.sample_shape


def is_symbolic(x: Any) -> bool:
    """Is ``x`` an ``Input``, a ``SymbolicTensor`` or a list/tuple of them?"""
    if isinstance(x, (SymbolicInput, SymbolicTensor)):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(
        isinstance(t, (SymbolicInput, SymbolicTensor)) for t in x)


def call_symbolic(layer: Any, x: Any) -> SymbolicTensor:
    """Record ``layer(x)`` in the graph; the layer is built later, by the ``Model``."""
    inputs = list(x) if isinstance(x, (list, tuple)) else [x]
    shapes = [_sample_shape(t) for t in inputs]
    multi = getattr(layer, "multi_input", False)
    custom = getattr(layer, "_is_custom", None)
    if isinstance(x, (list, tuple)) and not multi and not getattr(layer, "built", True) \
            and custom is not None and custom():
        # a custom layer (a ``call``) first called on a list takes a list from now on: its
        # call gets the list, its backward one gradient per input (as Keras's call(inputs))
        layer.multi_input = multi = True
    if multi != (isinstance(x, (list, tuple))):
        raise ValueError(f"layer {layer.name!r} takes {'a list of' if multi else 'one'} input(s)")
    out = layer.infer_output_shape(shapes if multi else shapes[0])
    if getattr(layer, "n_outputs", 1) > 1:  # a model of several outputs used as a layer
        node = SymbolicTensor(layer, inputs, ())
        node.out_shapes = [tuple(s) for s in out]
        record_call(layer, x, node)
        return layer.split_outputs(node)
    return record_call(layer, x, SymbolicTensor(layer, inputs, tuple(out)))


def record_call(layer: Any, x: Any, out: SymbolicTensor) -> SymbolicTensor:
    """Remember ``layer``'s symbolic call ``x -> out``: ``layer.input`` and ``layer.output``
    are those of its first call, as in Keras."""
    layer.__dict__.setdefault("_symbolic_calls", []).append((x, out))
    return out


def first_call(layer: Any, what: str) -> tuple[Any, SymbolicTensor]:
    """``(input, output)`` of ``layer``'s first symbolic call (Keras's error when none)."""
    calls = layer.__dict__.get("_symbolic_calls")
    if not calls:
        raise AttributeError(f"The layer {layer.name} has never been called and thus has no "
                             f"defined {what}.")
    return calls[0]
