"""Keras 3 config + H5 weights -> fastff model: explicit layer mapping, weights checked
against the config before any model is built, compile config and optimizer state."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastff.keras_format import custom, lookups, mask_ops, more_layers
from fastff.keras_format.archive import H5Weights, read_zip, weights_bytes
from fastff.keras_format.fields import activation as _activation
from fastff.keras_format.fields import dim as _dim
from fastff.keras_format.fields import get as _get
from fastff.keras_format.fields import keras_object as _object
from fastff.keras_format.fields import policy_dtype as _policy_dtype
from fastff.keras_format.fields import refuse_set as _refuse_set
from fastff.keras_format.layout import (
    FLOATS,
    LAYER_CLASSES,
    layer_paths,
    next_path,
    optimizer_groups,
)
from fastff.keras_format.writer import model_spec
from fastff.saving import FormatError


def _activation_layer(cls: str, cfg: dict, path: str, what: str, common: dict) -> Any:
    """Keras's ReLU / LeakyReLU / ELU / Softmax layers (the arguments fastff supports)."""
    from fastff import layers

    def number(key: str, default: float) -> float:
        v = cfg.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise FormatError(f"{path}: {what}.{key} must be a finite number, got {v!r}")
        return float(v)

    try:
        if cls == "ReLU":
            top = cfg.get("max_value")
            return layers.ReLU(max_value=None if top is None else number("max_value", None),
                               negative_slope=number("negative_slope", 0.0),
                               threshold=number("threshold", 0.0), **common)
        if cls == "LeakyReLU":
            return layers.LeakyReLU(negative_slope=number("negative_slope", 0.3), **common)
        if cls == "ELU":
            return layers.ELU(alpha=number("alpha", 1.0), **common)
        return layers.Softmax(axis=cfg.get("axis", -1), **common)
    except (ValueError, NotImplementedError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{path}: {what}: {e}") from e


def _build_layer(spec: Any, path: str) -> tuple[str, Any, dict]:
    """(Keras class, fastff layer or Input kwargs, Keras config) of one layer spec."""
    from fastff import constraints, initializers, layers, regularizers

    cls = _get(spec, "class_name", str, path, "a layer")
    cfg = _get(spec, "config", dict, path, f"layer {cls}")
    name = _get(cfg, "name", str, path, f"layer {cls}", None)
    what = f"layer {name or '?'!r} ({cls})"
    known = LAYER_CLASSES + more_layers.CLASSES + lookups.CLASSES
    if cls != "InputLayer" and custom.is_custom_spec(spec, known):
        return custom.build(spec, path, known[1:])
    if cls not in known:
        raise FormatError(f"{path}: {what} is not supported by fastff; supported: "
                          f"{', '.join(LAYER_CLASSES + more_layers.CLASSES)}")
    if spec.get("registered_name") not in (None, cls):
        raise FormatError(f"{path}: {what} is registered as {spec['registered_name']!r} "
                          "(a custom class); fastff reads Keras's own layers only")
    if cls == "InputLayer":
        shape = cfg.get("batch_shape")
        if shape is None and isinstance(cfg.get("batch_input_shape"), list):
            shape = cfg["batch_input_shape"]
        if not isinstance(shape, list) or not shape or shape[0] not in (None,) and \
                not isinstance(shape[0], int):
            raise FormatError(f"{path}: {what} needs a batch_shape list")
        dims = tuple(_dim(d, path, f"{what}.batch_shape") for d in shape[1:])
        dtype = cfg.get("dtype") or "float32"
        if not isinstance(dtype, str) or dtype not in FLOATS | {"int32", "int64", "uint8", "string",
                                                                 "int16", "int8"}:
            raise FormatError(f"{path}: {what} has unsupported dtype {dtype!r}")
        if cfg.get("sparse") or cfg.get("ragged") or cfg.get("optional"):
            raise FormatError(f"{path}: {what}: sparse, ragged or optional inputs are not "
                              "supported")
        return cls, {"shape": dims, "dtype": dtype, "name": name}, cfg
    common: dict[str, Any] = {"name": name, "trainable": bool(cfg.get("trainable", True))}
    if cfg.get("activity_regularizer") is not None:
        common["activity_regularizer"] = _object(cfg["activity_regularizer"], regularizers,
                                                 "regularizer", path, what)
    _policy_dtype(cfg, path, what)
    if cls in lookups.CLASSES:
        return cls, lookups.build(cls, cfg, path, what, common), cfg
    if cls in more_layers.CLASSES:
        try:
            return cls, more_layers.build(cls, cfg, path, what, common), cfg
        except (ValueError, TypeError) as e:
            if isinstance(e, FormatError):
                raise
            raise FormatError(f"{path}: {what}: {e}") from None
    if cls == "Dense":
        _refuse_set(cfg, ("quantization_config", "lora_rank"), path, what)
        layer = layers.Dense(
            _dim(cfg.get("units"), path, f"{what}.units"),
            activation=_activation(cfg, path, what),
            use_bias=bool(_get(cfg, "use_bias", bool, path, what, True)),
            kernel_initializer=_object(cfg.get("kernel_initializer", "glorot_uniform"),
                                       initializers, "initializer", path, what)
            or "glorot_uniform",
            bias_initializer=_object(cfg.get("bias_initializer", "zeros"), initializers,
                                     "initializer", path, what) or "zeros",
            kernel_regularizer=_object(cfg.get("kernel_regularizer"), regularizers,
                                       "regularizer", path, what),
            bias_regularizer=_object(cfg.get("bias_regularizer"), regularizers,
                                     "regularizer", path, what),
            kernel_constraint=_object(cfg.get("kernel_constraint"), constraints, "constraint",
                                      path, what),
            bias_constraint=_object(cfg.get("bias_constraint"), constraints, "constraint",
                                    path, what), **common)
    elif cls == "Dropout":
        rate = cfg.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise FormatError(f"{path}: {what}.rate must be a number in [0, 1), got {rate!r}")
        seed = cfg.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or seed < 0):
            raise FormatError(f"{path}: {what}.seed must be an integer >= 0 or null")
        try:
            layer = layers.Dropout(float(rate), noise_shape=cfg.get("noise_shape"), seed=seed,
                                   **common)
        except ValueError as e:
            raise FormatError(f"{path}: {what}: {e}") from None
    elif cls == "Activation":
        layer = layers.Activation(_activation(cfg, path, what), **common)
    elif cls in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
        layer = _activation_layer(cls, cfg, path, what, common)
    elif cls == "Flatten":
        if cfg.get("data_format") not in (None, "channels_last"):
            raise FormatError(f"{path}: {what}: only data_format='channels_last' is supported")
        layer = layers.Flatten(**common)
    elif cls == "Embedding":
        _refuse_set(cfg, ("quantization_config", "lora_rank", "sparse"), path, what)
        layer = layers.Embedding(
            _dim(cfg.get("input_dim"), path, f"{what}.input_dim"),
            _dim(cfg.get("output_dim"), path, f"{what}.output_dim"),
            embeddings_initializer=_object(cfg.get("embeddings_initializer", "uniform"),
                                           initializers, "initializer", path, what)
            or "uniform",
            embeddings_regularizer=_object(cfg.get("embeddings_regularizer"), regularizers,
                                           "regularizer", path, what),
            embeddings_constraint=_object(cfg.get("embeddings_constraint"), constraints,
                                          "constraint", path, what),
            mask_zero=bool(cfg.get("mask_zero", False)), **common)
    elif cls == "LayerNormalization":
        _refuse_set(cfg, ("beta_constraint", "gamma_constraint"), path, what)
        axis = cfg.get("axis", -1)
        if not (isinstance(axis, int) and not isinstance(axis, bool)) and not (
                isinstance(axis, list) and axis
                and all(isinstance(a, int) and not isinstance(a, bool) for a in axis)):
            raise FormatError(f"{path}: {what}.axis must be an integer or a list of them, "
                              f"got {axis!r}")
        eps = cfg.get("epsilon", 1e-3)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise FormatError(f"{path}: {what}.epsilon must be a positive number, got {eps!r}")
        try:
            layer = layers.LayerNormalization(
                axis=axis, epsilon=float(eps),
                center=bool(_get(cfg, "center", bool, path, what, True)),
                scale=bool(_get(cfg, "scale", bool, path, what, True)),
                rms_scaling=bool(_get(cfg, "rms_scaling", bool, path, what, False)),
                beta_initializer=_object(cfg.get("beta_initializer", "zeros"), initializers,
                                         "initializer", path, what) or "zeros",
                gamma_initializer=_object(cfg.get("gamma_initializer", "ones"), initializers,
                                          "initializer", path, what) or "ones",
                beta_regularizer=_object(cfg.get("beta_regularizer"), regularizers,
                                         "regularizer", path, what),
                gamma_regularizer=_object(cfg.get("gamma_regularizer"), regularizers,
                                          "regularizer", path, what), **common)
        except ValueError as e:
            raise FormatError(f"{path}: {what}: {e}") from e
    elif cls == "BatchNormalization":
        _refuse_set(cfg, ("beta_constraint", "gamma_constraint", "renorm"), path, what)

        def number(key: str, default: float) -> float:
            v = cfg.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise FormatError(f"{path}: {what}.{key} must be a finite number, got {v!r}")
            return float(v)

        axis = cfg.get("axis", -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise FormatError(f"{path}: {what}.axis must be an integer, got {axis!r}")
        try:
            layer = layers.BatchNormalization(
                axis=axis, momentum=number("momentum", 0.99), epsilon=number("epsilon", 1e-3),
                center=bool(_get(cfg, "center", bool, path, what, True)),
                scale=bool(_get(cfg, "scale", bool, path, what, True)),
                **{f"{v}_initializer": _object(cfg.get(f"{v}_initializer", d), initializers,
                                               "initializer", path, what) or d
                   for v, d in (("beta", "zeros"), ("gamma", "ones"),
                                ("moving_mean", "zeros"), ("moving_variance", "ones"))},
                beta_regularizer=_object(cfg.get("beta_regularizer"), regularizers,
                                         "regularizer", path, what),
                gamma_regularizer=_object(cfg.get("gamma_regularizer"), regularizers,
                                          "regularizer", path, what),
                synchronized=bool(cfg.get("synchronized", False)), **common)
        except ValueError as e:
            raise FormatError(f"{path}: {what}: {e}") from e
    else:  # Concatenate
        if cfg.get("axis", -1) not in (-1,):
            raise FormatError(f"{path}: {what}: only axis=-1 is supported, got {cfg['axis']!r}")
        layer = layers.Concatenate(**common)
    return cls, layer, cfg


def _expected_shapes(layer: Any, in_shape: Any) -> list[tuple[tuple[int, ...], str]]:
    """``[(shape, dtype kinds)]`` of the variables a layer will have, computed from its
    config and input shape (before building)."""
    extra = more_layers.weight_shapes(layer, in_shape)
    if extra is not None:
        return extra
    return [(s, "f") for s in _float_shapes(layer, in_shape)]


def _float_shapes(layer: Any, in_shape: Any) -> list[tuple[int, ...]]:
    cls = type(layer).__name__
    if cls == "Dense":
        if not isinstance(in_shape, tuple) or len(in_shape) != 1:
            raise ValueError(f"Dense {layer.name!r} needs 2-D inputs, got {in_shape}")
        return [(in_shape[0], layer.units)] + ([(layer.units,)] if layer.use_bias else [])
    if cls == "Embedding":
        return [(layer.input_dim, layer.output_dim)]
    if cls == "BatchNormalization":
        shape = in_shape if isinstance(in_shape, tuple) else ()
        ax = layer.axis if layer.axis < 0 else layer.axis - 1  # Keras counts the batch axis
        if not -len(shape) <= ax < len(shape):
            raise ValueError(f"BatchNormalization {layer.name!r}: axis {layer.axis} is out of "
                             f"range for inputs of shape {(None, *shape)}")
        n = int(shape[ax])
        return [(n,)] * (int(layer.scale) + int(layer.center) + 2)
    if cls == "LayerNormalization":
        from fastff.layers._axes import normalize_axes

        shape = in_shape if isinstance(in_shape, tuple) else ()
        axes = normalize_axes(layer.axis, len(shape) + 1, "LayerNormalization")
        wshape = tuple(int(shape[a - 1]) for a in axes)
        count = int(layer.scale or layer.rms_scaling) + int(layer.center
                                                             and not layer.rms_scaling)
        return [wshape] * count
    return []


def _read_layer_weights(h5: H5Weights, group: str, layer: Any, in_shape: Any,
                        used: list[int]) -> list[np.ndarray]:
    """The layer's arrays from ``group``, checked against the shapes its config implies;
    ``used[0]`` sums the bytes read so far (bounded by the file's size)."""
    shapes = _expected_shapes(layer, in_shape)
    dss = h5.datasets(group)
    if len(dss) != len(shapes):
        raise FormatError(f"{h5.path}: {group} holds {len(dss)} variables, layer "
                          f"{layer.name!r} has {len(shapes)}")
    for i, (ds, (s, kinds)) in enumerate(zip(dss, shapes)):
        used[0] += h5.check(ds, s, f"{group}/vars/{i}", kinds)
        if used[0] > h5.size:  # the arrays cannot be larger than the file holding them
            raise FormatError(f"{h5.path}: the config declares more weight data than the "
                              f"{h5.size}-byte weights file holds")
    return [h5.read(ds, s, f"{group}/vars/{i}", kinds)
            for i, (ds, (s, kinds)) in enumerate(zip(dss, shapes))]


def _input_dtype(name: str) -> str | None:
    """An InputLayer's dtype as fastff's ``Input`` takes it: integers and strings kept,
    floats following the model's dtype (None)."""
    return name if name == "string" or np.dtype(name).kind in "iu" else None


def _layer_pairs(h5: H5Weights, group: str, layer: Any, in_shape: Any,
                 used: list[int]) -> list:
    """``[(layer or custom.Group, arrays)]``: a built-in layer's arrays from ``group``, a
    custom layer's from its own group and its sublayers' (``custom.read_groups``)."""
    if custom.is_custom(layer):
        return custom.read_groups(h5, group, layer, in_shape, used, model_spec)
    return [(layer, _read_layer_weights(h5, group, layer, in_shape, used))]


_MAX_NESTING = 8  # models used as layers inside models


_MODULES = {"Sequential": (None, "keras", "keras.models", "keras.src.models.sequential"),
            "Functional": (None, "keras.src.models.functional", "keras.models")}


def _nested(spec: Any, path: str, depth: int) -> bool:
    """Is ``spec`` a Keras model (``Sequential`` or ``Functional``) used as a layer
    (checked)?"""
    cls = spec.get("class_name") if isinstance(spec, dict) else None
    if cls not in _MODULES:
        return False
    if spec.get("module") not in _MODULES[cls] or \
            spec.get("registered_name") not in (None, cls):
        raise FormatError(f"{path}: a nested {cls} must be Keras's own class")
    if depth >= _MAX_NESTING:
        raise FormatError(f"{path}: models nest deeper than {_MAX_NESTING} levels")
    return True


def _inner_input_shape(inner: Any, path: str) -> Any:
    """The per-sample input shape of a model read as a layer (a list of them for a
    functional model of several inputs, which is called on a list)."""
    inputs = getattr(inner, "_model_inputs", None)
    if inputs is None:
        return tuple(inner._input_shape)
    if len(inputs) != 1:
        return [tuple(t.input_shape_decl) for t in inputs]
    return tuple(inputs[0].input_shape_decl)


def _inner_model(cls: str, spec: dict, h5: H5Weights, path: str, group: str,
                 used: list[int], depth: int) -> tuple[Any, list]:
    """A nested model (its layers' weights under ``<group>/layers/...``) and its pairs."""
    if h5.datasets(group):
        raise FormatError(f"{path}: {group} holds variables, a model has none of its own")
    reader = _sequential if cls == "Sequential" else _functional
    return reader(spec, h5, path, group + "/", used, depth + 1)


def _sequential(doc: dict, h5: H5Weights, path: str, prefix: str = "",
                used: list[int] | None = None, depth: int = 0) -> tuple[Any, list]:
    """A Sequential and its ``[(layer, arrays)]``; a nested one (a Sequential used as a
    layer) reads its layers' weights under ``<prefix>layers/...``."""
    import fastff
    from fastff.layers import Input
    from fastff.nested import as_layer

    cfg = _get(doc, "config", dict, path, "the model")
    specs = _get(cfg, "layers", list, path, "Sequential config")
    built = [(s["class_name"], s, _get(s, "config", dict, path, "a nested model"))
             if _nested(s, path, depth) else _build_layer(s, path) for s in specs]
    inp = None
    if built and built[0][0] == "InputLayer":
        inp = built.pop(0)[1]
    elif isinstance(cfg.get("build_input_shape"), list):
        shape = cfg["build_input_shape"]
        inp = {"shape": tuple(_dim(d, path, "build_input_shape") for d in shape[1:]),
               "dtype": "float32", "name": None}
    if inp is None:
        raise FormatError(f"{path}: the Sequential config does not say its input shape")
    if any(c == "InputLayer" for c, _, _ in built):
        raise FormatError(f"{path}: an InputLayer may only come first in a Sequential")
    layers = [la for _, la, _ in built]
    dtype = next((_policy_dtype(c, path, "a layer") for _, _, c in built
                  if _policy_dtype(c, path, "a layer")), None) or "float32"
    # every weight checked against the file before the model (and its arrays) exists
    pairs: list = []
    shape: Any = tuple(inp["shape"])
    used = [0] if used is None else used
    for i, (group, (cls, layer, lcfg)) in enumerate(zip(
            layer_paths([c for c, _, _ in built]), built)):
        group = prefix + group
        lookups.read_assets(layer, lcfg, group, path)
        try:
            if cls in _MODULES:
                inner, inner_pairs = _inner_model(cls, layer, h5, path, group, used, depth)
                layer = layers[i] = as_layer(inner)
                want = _inner_input_shape(inner, path)
                if want != shape:
                    raise FormatError(f"{path}: the nested model {inner.name!r} expects "
                                      f"inputs of shape {(None, *want)}, it gets "
                                      f"{(None, *shape)}")
                pairs.extend(inner_pairs)
            else:
                pairs.extend(_layer_pairs(h5, group, layer, shape, used))
            shape = tuple(layer.infer_output_shape(shape))
        except ValueError as e:
            if isinstance(e, FormatError):
                raise
            raise FormatError(f"{path}: {e}") from None
    first = [Input(shape=inp["shape"], name=inp["name"], dtype=_input_dtype(inp["dtype"]))]
    model = fastff.Sequential(first + layers, name=cfg.get("name") if isinstance(
        cfg.get("name"), str) else None, dtype=dtype)
    return model, pairs


_MAX_CALLS = 1 << 12  # inbound nodes of one layer (calls of a shared layer)


_MAX_OUTPUTS = 1 << 10  # outputs of a model used as a layer


def _key(name: str, call: int, index: int) -> tuple:
    """A tensor's key: ``(layer, call)`` for a call's (first) output, ``(layer, call, k)``
    for output k of a call of a model of several outputs."""
    return (name, call) if index == 0 else (name, call, index)


def _history(arg: Any, path: str) -> tuple:
    """The key (``_key``) of the tensor a Keras tensor argument names (its
    ``keras_history``: the layer's call-th inbound node, output index)."""
    if not (isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"):
        raise FormatError(f"{path}: a layer's inbound argument is not a Keras tensor")
    hist = (arg.get("config") or {}).get("keras_history")
    if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in hist[1:])
            and 0 <= hist[1] < _MAX_CALLS and 0 <= hist[2] < _MAX_OUTPUTS):
        raise FormatError(f"{path}: unsupported keras_history {hist!r}")
    return _key(*hist)


def _layer_ref(v: Any, path: str, what: str) -> tuple[str, int, int]:
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and \
            all(isinstance(i, int) and not isinstance(i, bool) for i in v[1:]) and \
            0 <= v[1] <= _MAX_CALLS and 0 <= v[2] < _MAX_OUTPUTS:
        return v[0], v[1], v[2]
    raise FormatError(f"{path}: {what} entry {v!r} is not [name, node, index]")


def _no_mask(v: Any) -> bool:
    """A call's ``mask=`` that carries nothing (Keras writes ``[null, null]`` for a model
    of two inputs called as a layer)."""
    return v is None or v is False or (isinstance(v, list) and len(v) <= 1 << 10
                                       and all(m is None for m in v))


def _call_args(node: Any, obj: Any, name: str, path: str) -> tuple[list, bool, Any]:
    """``(source tensor keys, takes a list, mask tensor or None)`` of one inbound node."""
    if not isinstance(node, dict):
        raise FormatError(f"{path}: layer {name!r}: an inbound node must be an object")
    args, kwargs = node.get("args"), node.get("kwargs") or {}
    mask = kwargs.get("mask") if isinstance(kwargs, dict) else None
    if isinstance(mask, dict) and getattr(obj, "mask_consumer", False):
        kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
    else:
        mask = None
    if not isinstance(args, list) or len(args) != 1 or not isinstance(kwargs, dict) or \
            any(k not in ("mask", "training") or not _no_mask(v) for k, v in kwargs.items()):
        raise FormatError(f"{path}: layer {name!r}: unsupported call arguments "
                          f"{kwargs!r}")
    arg = args[0]
    if isinstance(arg, list) and len(arg) > 1 << 10:
        raise FormatError(f"{path}: layer {name!r} takes {len(arg)} inputs")
    srcs = [_history(a, path) for a in arg] if isinstance(arg, list) \
        else [_history(arg, path)]
    return srcs, isinstance(arg, list), None if mask is None else _history(mask, path)


def _functional(doc: dict, h5: H5Weights, path: str, prefix: str = "",
                used: list[int] | None = None, depth: int = 0) -> tuple[Any, list]:
    """A functional model and its ``[(layer, arrays)]``; a nested one reads its layers'
    weights under ``<prefix>layers/...``. A layer with several inbound nodes (a shared
    layer) is built once and called per node; its calls are resolved in Keras's order
    (``functional_from_config``: layers in config order, each one's nodes in order, a node
    waiting until its inputs exist)."""
    import fastff
    from fastff.layers import Input

    cfg = _get(doc, "config", dict, path, "the model")
    specs = _get(cfg, "layers", list, path, "Functional config")
    tensors: dict[tuple, Any] = {}
    shapes: dict[tuple, Any] = {}  # tensor key (layer name, call) -> per-sample shape
    built = []
    ops: dict[tuple, tuple] = {}  # Keras's mask operations (mask_ops), by tensor key
    graph: dict[tuple, tuple] = {}  # tensor key -> (fastff layer, source keys)
    groups: list[str] = []  # each layer's H5 group
    counter: dict[str, int] = {}
    used = [0] if used is None else used
    nested: dict[int, list] = {}  # position -> a nested model's (layer, arrays)
    names: dict[str, str] = {}  # layer name -> Keras class
    layer_calls: list[tuple[str, Any, str, list]] = []  # (name, layer, class, [calls])
    for spec in specs:
        if isinstance(spec, dict) and spec.get("class_name") in mask_ops.MASK_OPS:
            name = spec.get("name")
            if not isinstance(name, str) or name in names:
                raise FormatError(f"{path}: layer names must be unique strings, got {name!r}")
            names[name] = spec["class_name"]
            ops[(name, 0)] = mask_ops.parse(spec, _history, path)
            continue
        if _nested(spec, path, depth):
            cls, obj = spec["class_name"], None
            lcfg = _get(spec, "config", dict, path, "a nested model")
        else:
            cls, obj, lcfg = _build_layer(spec, path)
        name = spec.get("name") or lcfg.get("name")
        if not isinstance(name, str) or name in names:
            raise FormatError(f"{path}: layer names must be unique strings, got {name!r}")
        names[name] = cls
        nodes = spec.get("inbound_nodes", [])
        if not isinstance(nodes, list) or len(nodes) > _MAX_CALLS:
            raise FormatError(f"{path}: layer {name!r}: inbound_nodes must be a list (of at "
                              f"most {_MAX_CALLS})")
        groups.append(prefix + next_path(counter, cls))
        lookups.read_assets(obj, lcfg, groups[-1], path)
        if cls == "InputLayer":
            if nodes:
                raise FormatError(f"{path}: InputLayer {name!r} has inbound nodes")
            t = Input(shape=obj["shape"], name=name,
                      dtype=_input_dtype(obj["dtype"]))
            tensors[(name, 0)], shapes[(name, 0)] = t, tuple(obj["shape"])
            built.append((cls, None, None))
            continue
        if not nodes:
            raise FormatError(f"{path}: layer {name!r} is never called")
        if cls in _MODULES:
            from fastff.nested import as_layer

            inner, nested[len(built)] = _inner_model(cls, spec, h5, path, groups[-1], used,
                                                     depth)
            obj = as_layer(inner)
        calls = [_call_args(n, obj, name, path) for n in nodes]
        multi = bool(getattr(obj, "multi_input", False)) or cls in more_layers.MULTI_INPUT
        if custom.is_custom(obj) and calls[0][1] and type(obj)._is_custom():
            multi = True  # a custom layer's call takes a list (every call must agree)
            obj.multi_input = True
        for _, is_list, _ in calls:
            if multi != is_list:
                raise FormatError(f"{path}: layer {name!r} takes "
                                  f"{'a list of' if multi else 'one'} input(s)")
        built.append((cls, obj, name))
        layer_calls.append((name, obj, cls, calls))
    # the calls, in Keras's order: a node waits until every tensor it reads exists
    pending = []
    waiting = {name: 0 for name, *_ in layer_calls}  # next call to resolve, per layer
    first_in: dict[str, Any] = {}
    progress = True
    while progress:
        progress = False
        for name, obj, cls, calls in layer_calls:
            while waiting[name] < len(calls):
                srcs, multi, mask = calls[waiting[name]]
                if not all(s in shapes for s in srcs):
                    break
                key = (name, waiting[name])
                if mask is not None:
                    mask_ops.check_mask(mask, ops, graph, srcs[0], name, path)
                in_shape = [shapes[s] for s in srcs] if multi else shapes[srcs[0]]
                if name in first_in and first_in[name] != in_shape:
                    raise FormatError(f"{path}: the shared layer {name!r} is called on inputs "
                                      f"of shapes {first_in[name]} and {in_shape}; fastff "
                                      "builds a layer for one input shape")
                first_in.setdefault(name, in_shape)
                if cls in _MODULES:
                    want = _inner_input_shape(obj.model, path)
                    if want != in_shape:
                        raise FormatError(f"{path}: the nested model {name!r} takes inputs "
                                          f"of shape {want}, it is called on {in_shape}")
                try:
                    out_shape = obj.infer_output_shape(in_shape)
                    if cls == "Concatenate" and any(len(s) != 1 for s in in_shape):
                        raise ValueError(f"Concatenate {name!r} joins (batch, features) "
                                         "inputs")
                except (ValueError, TypeError) as e:
                    raise FormatError(f"{path}: {e}") from None
                graph[key] = (obj, srcs)
                if isinstance(out_shape, list):  # a model of several outputs: one key each
                    for j, shape in enumerate(out_shape):
                        shapes[_key(name, key[1], j)] = tuple(shape)
                else:
                    shapes[key] = tuple(out_shape)
                pending.append((key, obj, srcs, multi))
                waiting[name] += 1
                progress = True
    stuck = [n for n, _, _, calls in layer_calls if waiting[n] < len(calls)]
    if stuck:
        raise FormatError(f"{path}: the calls of layer(s) {stuck[:8]} read tensors that do "
                          "not exist (a missing layer or node, or a cycle)")
    # weights checked against the file before any model exists
    weights: list = []
    for pos, (group, (_cls, obj, lname)) in enumerate(zip(groups, built)):
        if obj is None:
            if h5.datasets(group):
                raise FormatError(f"{path}: {group} holds variables, an InputLayer has none")
            continue
        if pos in nested:
            weights.extend(nested[pos])
            continue
        try:
            weights.extend(_layer_pairs(h5, group, obj, first_in[lname], used))
        except ValueError as e:
            raise FormatError(f"{path}: {e}") from None
    for key, obj, srcs, multi in pending:
        ins = [tensors[s] for s in srcs]
        out = obj(ins if multi else ins[0])
        if isinstance(out, dict):  # Keras's tensor index: the outputs' flattened order
            out = [out[k] for k in sorted(out)]
        if isinstance(out, list):
            tensors.update((_key(key[0], key[1], j), t) for j, t in enumerate(out))
        else:
            tensors[key] = out
    raw_in = cfg.get("input_layers")
    raw_in = [raw_in] if isinstance(raw_in, list) and raw_in and isinstance(raw_in[0], str) \
        else raw_in
    raw_out = cfg.get("output_layers")
    out_keys = None
    if isinstance(raw_out, dict):  # outputs given as a dict (keys are the output names)
        if not raw_out or len(raw_out) > 1 << 10 or not all(isinstance(k, str) for k in raw_out):
            raise FormatError(f"{path}: output_layers must map output names to layers")
        out_keys = list(raw_out)
        raw_out = [raw_out[k] for k in out_keys]
        several = True
    else:
        several = isinstance(raw_out, list) and bool(raw_out) and isinstance(raw_out[0], list)
        raw_out = raw_out if several else [raw_out]
    if not isinstance(raw_in, list) or not isinstance(raw_out, list) or not raw_out \
            or len(raw_out) > _MAX_OUTPUTS:
        raise FormatError(f"{path}: input_layers / output_layers malformed")
    in_refs = [_layer_ref(v, path, "input_layers") for v in raw_in]
    in_names = [_key(*r) for r in in_refs]
    # Keras counts a nested Functional's calls from 1 in output_layers (its own node first)
    out_names = [_key(n, c - 1, i) if names.get(n) == "Functional" else _key(n, c, i)
                 for n, c, i in (_layer_ref(v, path, "output_layers") for v in raw_out)]
    for n in [*in_names, *out_names]:
        if n not in tensors:
            raise FormatError(f"{path}: {list(n)!r} is not a layer (call, output) of the model")
    if len(set(in_names)) != len(in_names) or not all(
            isinstance(tensors[n], Input) and len(n) == 2 and n[1] == 0 for n in in_names):
        raise FormatError(f"{path}: input_layers must name InputLayers")
    dtype = next((_policy_dtype(s.get("config"), path, "a layer") for s in specs
                  if isinstance(s, dict) and s.get("class_name") != "InputLayer"
                  and _policy_dtype(s.get("config"), path, "a layer")), None) or "float32"
    try:
        outputs: Any = [tensors[n] for n in out_names]
        if out_keys is not None:
            outputs = dict(zip(out_keys, outputs))
        elif not several:
            outputs = outputs[0]
        model = fastff.Model([tensors[n] for n in in_names], outputs,
                             name=cfg.get("name") if isinstance(cfg.get("name"), str) else None,
                             dtype=dtype)
    except (ValueError, TypeError) as e:
        raise FormatError(f"{path}: {e}") from None
    return model, weights


def _assign(pairs: list, path: str) -> None:
    consumer = any(getattr(layer, "mask_consumer", False) for layer, _ in pairs)
    for layer, arrays in pairs:
        if type(layer).__name__ == "Embedding" and layer.mask_zero and arrays and \
                np.any(arrays[0][0] != 0) and not consumer:
            # Keras looks the padding row up, and with no layer that reads the mask the
            # looked-up row reaches the output; fastff embeds padding as zeros
            layer.mask_zero = False
            warnings.warn(f"{path}: Embedding {layer.name!r} has mask_zero=True and a nonzero "
                          "row 0; read with mask_zero=False so predictions match Keras",
                          stacklevel=4)
        for p, a in zip(layer.params, arrays):
            p.assign(a.astype(p.value.dtype, copy=False).reshape(p.shape))


def _model_from(doc: Any, h5: H5Weights, path: str) -> tuple[Any, list]:
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: the model config must be an object")
    cls = doc.get("class_name")
    if cls == "Sequential":
        return _sequential(doc, h5, path)
    if cls in ("Functional", "Model"):
        return _functional(doc, h5, path)
    raise FormatError(f"{path}: model class {cls!r} is not supported (Sequential and "
                      "Functional only; subclassed models hold code)")


def _compile(model: Any, cfg: Any, h5: H5Weights, path: str, trainable: list) -> None:
    from fastff import losses, metrics, optimizers

    if not isinstance(cfg, dict) or not cfg:
        return
    opt_spec = cfg.get("optimizer")
    try:
        if isinstance(opt_spec, str):
            opt = optimizers.get(opt_spec)
        elif isinstance(opt_spec, dict):
            ocfg = dict(opt_spec.get("config") or {})
            lr = ocfg.get("learning_rate")
            if isinstance(lr, dict):
                ocfg["learning_rate"] = {"class_name": lr.get("class_name"),
                                         "config": lr.get("config") or {}}
            opt = optimizers.deserialize({"class_name": opt_spec.get("class_name"),
                                          "config": ocfg})
        else:
            raise ValueError("no optimizer")
        def one_loss(spec: Any) -> Any:
            if isinstance(spec, dict) and "class_name" in spec:
                return losses.deserialize({"class_name": spec.get("class_name"),
                                           "config": spec.get("config") or {}})
            if spec is not None and not isinstance(spec, str):
                raise ValueError(f"a loss must be a name or a Keras object, got {spec!r}")
            return spec

        def metric_list(ms: Any) -> list:
            if not isinstance(ms, list):
                raise ValueError("metrics must be a list")
            return [m if isinstance(m, str) else metrics.deserialize(
                {"class_name": m.get("class_name"), "config": m.get("config") or {}})
                for m in ms]

        multi = getattr(model, "_output_kind", None) is not None
        loss = cfg.get("loss")
        weights = cfg.get("loss_weights")
        mets: Any = cfg.get("metrics") or []
        if multi:  # per output: dicts by output name or lists in output order
            if isinstance(loss, dict) and "class_name" not in loss:
                loss = {k: one_loss(v) for k, v in loss.items()}
            elif isinstance(loss, list):
                loss = [one_loss(v) for v in loss]
            else:
                loss = one_loss(loss)
            if isinstance(mets, dict):
                mets = {k: metric_list(v if isinstance(v, list) else [v])
                        for k, v in mets.items()}
            elif mets and all(isinstance(v, list) for v in mets):
                mets = [metric_list(v) for v in mets]
            else:
                mets = metric_list(mets) or None
            if not isinstance(weights, (dict, list)) or not all(
                    isinstance(w, (int, float)) and not isinstance(w, bool)
                    for w in (weights.values() if isinstance(weights, dict) else weights)):
                weights = None
        else:
            loss = one_loss(loss)
            mets = metric_list(mets)
            weights = weights if isinstance(weights, (int, float)) else None
        model.compile(optimizer=opt, loss=loss, metrics=mets, loss_weights=weights)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        warnings.warn(f"{path}: the compile config cannot be mapped to fastff ({e}); the "
                      "model is loaded uncompiled", stacklevel=3)
        return
    _restore_optimizer(model, h5, path, trainable)


def _restore_optimizer(model: Any, h5: H5Weights, path: str, trainable: list) -> None:
    dss = h5.datasets("optimizer")
    opt = model.optimizer
    groups = optimizer_groups(opt)
    per_var = sum(len(g) for g in groups or [])
    if not dss or (len(dss) <= 2 and per_var and trainable):
        return  # none saved, or Keras never built it (iterations and learning rate only)
    n_scalar = len(dss) - per_var * len(trainable)
    if groups is None or n_scalar not in (1, 2):
        warnings.warn(f"{path}: the {len(dss)} optimizer variables do not match fastff's "
                      f"{type(opt).__name__} state; weights loaded, optimizer state restarts",
                      stacklevel=4)
        return
    iterations = h5.read(dss[0], (), "optimizer/vars/0", kinds="iuf")
    model._build_optimizer()
    state = opt.get_state()
    offsets = {id(p): o for p, o in model._placement}
    i = n_scalar
    for group in groups:
        for p in trainable:
            o = offsets[id(p)]
            for name in group:
                a = h5.read(dss[i], p.shape, f"optimizer/vars/{i}")
                state[name][o:o + p.size] = a.reshape(-1)
                i += 1
    state["iterations"] = np.asarray(int(iterations), dtype=np.int64)
    opt.set_state(state)


def load_keras(path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None,
               compile: bool = True) -> Any:
    """A fastff model from a Keras 3 ``.keras`` file (Sequential or Functional of the
    mapped layers), compiled (with its optimizer state where the layouts match) when
    ``compile``; or a subclassed model whose class ``custom_objects`` (or the registry)
    supplies - classes are never loaded from a file."""
    from fastff.keras_format import tracked

    path = os.fspath(path)
    doc, weights, assets = read_zip(path, with_assets=True)
    h5 = H5Weights(path, weights)
    token = custom.CUSTOM_OBJECTS.set(custom_objects)
    asset_token = lookups.ASSETS.set(assets)
    try:
        if isinstance(doc, dict) and doc.get("class_name") not in (
                "Sequential", "Functional", "Model"):
            model = tracked.load_tracked_keras(doc, h5, path, custom_objects)
            if compile:
                _compile(model, doc.get("compile_config"), h5, path,
                         tracked.trainable_in_keras_order(model) or [])
            return model
        model, pairs = _model_from(doc, h5, path)
        _assign(pairs, path)
        if compile:
            trainable = [p for la, _ in pairs if model.trainable and la.trainable
                         for p in la.params if p.trainable]
            _compile(model, doc.get("compile_config"), h5, path, trainable)
    except FormatError:
        raise
    except (Exception, MemoryError, RecursionError) as e:
        raise FormatError(f"{path}: invalid Keras model: {type(e).__name__}: {e}") from e
    finally:
        custom.CUSTOM_OBJECTS.reset(token)
        lookups.ASSETS.reset(asset_token)
        h5.close()
    return model


def load_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load a Keras 3 ``.weights.h5`` file (or a ``.keras`` file's weights) into a built
    fastff model whose layers correspond to the Keras model's."""
    path = os.fspath(path)
    if not model.built:
        raise ValueError("load_weights: build the model before loading Keras weights")
    h5 = H5Weights(path, weights_bytes(path))
    try:
        _, stores, _ = model_spec(model)
        pairs = []
        for group, arrays, layer in stores:
            if layer is None:  # a nested model's own group (its layers follow)
                continue
            shapes = [a.shape for a in arrays]
            dss = h5.datasets(group)
            if len(dss) != len(shapes):
                raise FormatError(f"{path}: {group} holds {len(dss)} variables, layer "
                                  f"{layer.name!r} has {len(shapes)}")
            pairs.append((layer, [h5.read(ds, a.shape, f"{group}/vars/{i}",
                                          "iuf" if a.dtype.kind in "iu" else "f")
                                  for i, (ds, a) in enumerate(zip(dss, arrays))]))
        for layer, arrays in pairs:
            for p, a in zip(layer.params, arrays):
                p.assign(a.astype(p.value.dtype, copy=False).reshape(p.shape))
    finally:
        h5.close()
