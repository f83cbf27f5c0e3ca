"""The model walk the exporters share: checks, inputs, layer order and converter lookup.

``fastff.export.c`` and ``fastff.export.onnx`` turn each layer into code of their own; what
they both need from the model -- that it is built, its inputs' names / per-sample shapes /
dtypes, its layers in order with the values each takes (models used as layers walked into,
a BatchNormalization folded into the Dense before it where it can, masks followed to the
layers that use them), the output shape, the host copy of a weight -- is here, so the two
walk a model the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["FoldedDense", "InputSpec", "check_model", "converter_for", "converter_table",
           "host", "input_specs", "normalization_affine", "output_names", "output_shape",
           "output_shapes", "rescaling_affine", "walk", "walk_outputs"]


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
    """The per-sample shape of the model's (first) output."""
    return output_shapes(model)[0]


def output_shapes(model: Any) -> list[tuple[int, ...]]:
    """The per-sample shape of each model output, in ``model.outputs`` order (a dict's
    outputs in sorted-key order, as Keras flattens them)."""
    graph = getattr(model, "_graph", None)
    if graph is not None:
        return [tuple(int(d) for d in s) for s in graph.out_shapes]
    return [tuple(model.output_shape[1:])]


def output_names(model: Any) -> list[str] | None:
    """Keras's names of a model's several outputs (the dict keys for dict outputs, in
    sorted order; else the output layers' names, a repeat numbered ``name_1``); None for a
    model of one output."""
    if getattr(model, "_output_kind", None) is None:
        return None
    return list(model._output_names)


def converter_table(converters: dict[str, Callable[..., Any]]) -> dict[type, Callable[..., Any]]:
    """``{layer class: converter}`` from ``{fastff.layers name: converter}``; names that
    ``fastff.layers`` does not define are left out."""
    from fastff import layers

    table: dict[type, Callable[..., Any]] = {}
    for cls_name, fn in converters.items():
        cls = getattr(layers, cls_name, None)
        if isinstance(cls, type):
            table[cls] = fn
    if "Dense" in converters:  # a Dense with a BatchNormalization folded in
        table[FoldedDense] = converters["Dense"]
    return table


def converter_for(table: dict[type, Callable[..., Any]], layer: Any,
                  refusal: str) -> Callable[..., Any]:
    """The converter of ``layer``'s exact class (a subclass may compute something else in
    its forward); an unknown class raises ``ValueError``: ``refusal`` (formatted with the
    layer's ``name`` and ``kind``) and the supported layers."""
    fn = table.get(type(layer))
    if fn is None:
        supported = ", ".join(sorted(c.__name__ for c in table if c is not FoldedDense))
        raise ValueError(refusal.format(name=layer.name, kind=type(layer).__name__)
                         + f"; supported layers: {supported}")
    return fn


class FoldedDense:
    """A ``Dense`` with the ``BatchNormalization`` that reads it folded in (inference):
    ``kernel``/``bias`` hold ``W·s`` and ``(b − mean)·s + β`` with ``s = γ/√(var+ε)``,
    computed in float64 and cast to the kernel's dtype. Converters treat it as a Dense."""

    class _Weight(NamedTuple):
        value: np.ndarray

    def __init__(self, dense: Any, bn: Any):
        w = host(dense.kernel.value)
        mean = host(bn.moving_mean.value).astype(np.float64)
        var = host(bn.moving_variance.value).astype(np.float64)
        scale = 1.0 / np.sqrt(var + bn.epsilon)
        if bn.gamma is not None:
            scale = scale * host(bn.gamma.value).astype(np.float64)
        b = (np.zeros(w.shape[1]) if dense.bias is None
             else host(dense.bias.value).astype(np.float64))
        shift = (b - mean) * scale
        if bn.beta is not None:
            shift = shift + host(bn.beta.value).astype(np.float64)
        self.name = dense.name
        self.dense, self.batch_norm = dense, bn
        self.activation = dense.activation
        self.kernel = self._Weight((w.astype(np.float64) * scale).astype(w.dtype))
        self.bias = self._Weight(shift.astype(w.dtype))
        self.input_shape = dense.input_shape


def _foldable(dense: Any, bn: Any) -> bool:
    """``bn`` directly after ``dense`` can fold into it: a plain linear Dense and a
    BatchNormalization over the Dense's features (the last axis)."""
    from fastff import layers

    if type(dense) is not layers.Dense or type(bn) is not layers.BatchNormalization:
        return False
    act = dense.activation
    if not (getattr(act, "builtin", False) and act.name == "linear"):
        return False
    return bn._feature == (len(tuple(bn.input_shape)),)


def _fold_plan(nodes: list[tuple[Any, list[int]]], n_sources: int,
               outputs: list[int]) -> dict[int, int]:
    """``{dense node: bn node}`` for each BatchNormalization that folds into the Dense it
    reads: the Dense's output is read by that node alone (and is not a model output)."""
    readers: dict[int, list[int]] = {}
    calls: dict[int, int] = {}
    for j, (layer, refs) in enumerate(nodes):
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        for r in refs:
            readers.setdefault(r, []).append(j)
    plan = {}
    for j, (layer, refs) in enumerate(nodes):
        if len(refs) != 1 or refs[0] < n_sources:
            continue
        if calls[id(layer)] > 1 or calls[id(nodes[refs[0] - n_sources][0])] > 1:
            continue  # a shared layer: folding would change its other calls
        i = refs[0] - n_sources
        if readers[refs[0]] == [j] and refs[0] not in outputs and \
                _foldable(nodes[i][0], layer):
            plan[i] = j
    return plan


class _Lazy:
    """A mask, made only when some layer uses it (then once)."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._done, self._value = make, False, None

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._make(), True
        return self._value


def _output_mask(layer: Any, x: Any, mask: Any, masker: Any) -> Any:
    """The (lazy) mask of ``layer``'s output, by ``fastff.layers.masking.output_mask``'s
    rule: ``Embedding(mask_zero=True)`` and ``Masking`` make one, the merge layers AND
    their inputs' masks, other layers with ``compute_mask`` (pooling, Dot,
    WindowEmbedding) end it, and ``supports_masking`` layers pass it on."""
    from fastff import layers
    from fastff.layers.merging import Merge

    compute = getattr(layer, "compute_mask", None)
    if compute is None:
        return mask if getattr(layer, "supports_masking", False) else None
    kind = type(layer)
    if kind is layers.Embedding:
        return _Lazy(lambda: masker.ids(layer, x)) if layer.mask_zero else None
    if kind is layers.Masking:
        return _Lazy(lambda: masker.values(layer, x))
    if isinstance(layer, Merge) and type(layer).compute_mask is Merge.compute_mask:
        ms = [m for m in (mask or []) if m is not None]
        if not ms:
            return None
        if len(ms) == 1:
            return ms[0]
        return _Lazy(lambda: masker.both(layer, [m() for m in ms]))
    return None


def walk(model: Any, inputs: list[Any], step: Callable[..., Any], who: str,
         masker: Any = None) -> Any:
    """The value of a model's (first) output (see ``walk_outputs``)."""
    return walk_outputs(model, inputs, step, who, masker)[0]


def walk_outputs(model: Any, inputs: list[Any], step: Callable[..., Any], who: str,
                 masker: Any = None) -> list[Any]:
    """Run ``step(layer, x)`` over the model's layers in order; one value per model output.

    ``inputs``: one value per model input. A layer that takes several inputs
    (``multi_input``) gets the list of its inputs' values, any other the single value.
    A model used as a layer (``fastff.nested``) is walked into: its layers are steps too.
    A ``BatchNormalization`` that folds into the ``Dense`` before it (see ``_fold_plan``)
    makes one step, a ``FoldedDense``. Masks (``fastff.layers.masking``) are followed: a
    mask consumer with a mask gets ``step(layer, x, mask=m)``, ``m`` made by ``masker``
    (``ids(embedding, x)``, ``values(masking, x)``, ``both(merge, masks)``: per-sample
    masks in the exporter's terms). A shared layer (called on several tensors) is one step
    per call (its weights written with each). The outputs come in ``model.outputs`` order;
    one may be a model input itself, or the same value as another. A model of several
    outputs used as a layer gives the list of its values, which its ``OutputPick`` nodes
    index.
    """
    graph = getattr(model, "_graph", None)
    if graph is None:
        layers = list(model._layers)
        return _run([(la, [i]) for i, la in enumerate(layers)], 1, [len(layers)], inputs,
                    step, who, masker)
    return _run(list(graph.nodes), len(graph.sources), list(graph.out_refs), inputs, step,
                who, masker)


def _run(nodes: list[tuple[Any, list[int]]], n_sources: int, outs: list[int],
         inputs: list[Any], step: Callable[..., Any], who: str, masker: Any) -> list[Any]:
    """``walk_outputs`` over ``nodes`` (``(layer, value refs)``; values ``0..n_sources-1``
    are the inputs, then one per node) returning the values ``outs``."""
    from fastff.nested import NestedModel

    plan = _fold_plan(nodes, n_sources, outs)
    folded = {j: i for i, j in plan.items()}
    vals, masks = list(inputs), [None] * n_sources
    for j, (layer, refs) in enumerate(nodes):
        multi = getattr(layer, "multi_input", False)
        x = [vals[r] for r in refs] if multi else vals[refs[0]]
        m = [masks[r] for r in refs] if multi else masks[refs[0]]
        if j in folded:  # its Dense already applied it
            y = x
        elif j in plan:
            y = step(FoldedDense(layer, nodes[plan[j]][0]), x)
        elif isinstance(layer, NestedModel):  # its own masks start afresh, as in forward
            ys = walk_outputs(layer.model, x if multi else [x], step, who, masker)
            y = ys if layer.n_outputs > 1 else ys[0]
        elif getattr(layer, "is_output_pick", False):  # output k of a model's call
            y = x[layer.index]
        elif m is not None and getattr(layer, "mask_consumer", False):
            y = step(layer, x, mask=m())
        else:
            y = step(layer, x)
        vals.append(y)
        masks.append(_output_mask(layer, x, m, masker))
    return [vals[r] for r in outs]
