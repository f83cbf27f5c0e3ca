"""The model walk the exporters share: checks, inputs, layer order and converter lookup.

``fastff.export.c`` and ``fastff.export.onnx`` turn each layer into code of their own; what
they both need from the model -- that it is built, its inputs' names / per-sample shapes /
dtypes, its layers in order with the values each takes, the output shape, whether it has
mask producers, the host copy of a weight -- is here, so the two walk a model the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["InputSpec", "check_model", "converter_for", "converter_table", "has_masks", "host",
           "input_specs", "normalization_affine", "output_shape", "rescaling_affine",
           "walk"]


class InputSpec(NamedTuple):
    """One model input as ``predict`` takes it: name, per-sample shape, element dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


def host(a: Any) -> np.ndarray:
    """A weight's value as a host NumPy array (device arrays are copied back)."""
    from fastff.layers.base import to_host

    return np.asarray(to_host(a))


def normalization_affine(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` in float64 with ``Normalization(x) == x * scale + shift`` (its
    inverse when ``invert``), as the layer's mean and variance broadcast."""
    from fastff.layers.normalization import _EPSILON

    mean, var = (np.asarray(a, dtype=np.float64) for a in layer._moments())
    std = np.maximum(np.sqrt(var), _EPSILON)
    if layer.invert:
        return std, mean
    return 1.0 / std, -mean / std


def rescaling_affine(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` in float64 of a ``Rescaling`` layer."""
    return np.asarray(layer.scale, np.float64), np.asarray(layer.offset, np.float64)


def check_model(model: Any, who: str) -> None:
    """Raise unless ``model`` is a built fastff Sequential or functional Model."""
    if not hasattr(model, "_layers") or not hasattr(model, "get_config"):
        raise TypeError(f"{who}: expected a fastff Sequential or Model, got "
                        f"{type(model).__name__}")
    if not model._layers or not model.built:
        raise ValueError(f"{who}: the model is not built; call model.build(input_shape) "
                         "or fit/predict once first")


def has_masks(model: Any) -> bool:
    """Whether the model has a mask producer (Masking, Embedding(mask_zero=True))."""
    return any(type(layer).__name__ == "Masking" or (type(layer).__name__ == "Embedding"
                                                     and getattr(layer, "mask_zero", False))
               for layer in model.layers)


def input_specs(model: Any) -> list[InputSpec]:
    """The model's inputs in order (a Sequential's single input is named after its
    ``Input`` layer, else ``"input"``)."""
    graph = getattr(model, "_graph", None)
    if graph is not None:
        return [InputSpec(t.name, tuple(int(d) for d in t.input_shape_decl),
                          np.dtype(t.input_dtype or model.dtype)) for t in graph.sources]
    first = model._layers[0]
    dtype = np.dtype(getattr(first, "input_dtype", None) or model.dtype)
    inp = getattr(model, "_input_layer", None)
    return [InputSpec(inp.name if inp is not None else "input",
                      tuple(int(d) for d in model._input_shape), dtype)]


def output_shape(model: Any) -> tuple[int, ...]:
    """The per-sample shape of the model's (single) output."""
    graph = getattr(model, "_graph", None)
    if graph is not None:
        return tuple(graph.out_shape)
    return tuple(model.output_shape[1:])


def converter_table(converters: dict[str, Callable[..., Any]]) -> dict[type, Callable[..., Any]]:
    """``{layer class: converter}`` from ``{fastff.layers name: converter}``; names that
    ``fastff.layers`` does not define are left out."""
    from fastff import layers

    table: dict[type, Callable[..., Any]] = {}
    for cls_name, fn in converters.items():
        cls = getattr(layers, cls_name, None)
        if isinstance(cls, type):
            table[cls] = fn
    return table


def converter_for(table: dict[type, Callable[..., Any]], layer: Any,
                  refusal: str) -> Callable[..., Any]:
    """The converter of ``layer``'s exact class (a subclass may compute something else in
    its forward); an unknown class raises ``ValueError``: ``refusal`` (formatted with the
    layer's ``name`` and ``kind``) and the supported layers."""
    fn = table.get(type(layer))
    if fn is None:
        supported = ", ".join(sorted(c.__name__ for c in table))
        raise ValueError(refusal.format(name=layer.name, kind=type(layer).__name__)
                         + f"; supported layers: {supported}")
    return fn


def walk(model: Any, inputs: list[Any], step: Callable[[Any, Any], Any], who: str) -> Any:
    """Run ``step(layer, x)`` over the model's layers in order and return the last value.

    ``inputs``: one value per model input. A layer that takes several inputs
    (``multi_input``) gets the list of its inputs' values, any other the single value.
    Models with several outputs or shared layers raise ``NotImplementedError``.
    """
    graph = getattr(model, "_graph", None)
    if graph is None:
        x = inputs[0]
        for layer in model._layers:
            x = step(layer, x)
        return x
    if not getattr(graph, "simple", True):
        raise NotImplementedError(f"{who}: functional Models with several outputs or shared "
                                  "layers are not supported yet")
    vals = list(inputs)
    for layer, refs in graph.nodes:
        multi = getattr(layer, "multi_input", False)
        vals.append(step(layer, [vals[r] for r in refs] if multi else vals[refs[0]]))
    return vals[-1]
