"""Keras 3's weight layout for subclassed models (``.weights.h5``).

Keras saves a subclassed model by walking its attributes: each layer's own variables go
under the attribute path that holds it (``hidden/vars/0``), layers in a list or dict under
the path of the container plus their snake-cased class name made unique (``blocks/dense``,
``blocks/dense_1``), attributes in sorted order with the private ones (``_x``) last, each
layer once (the first path that reaches it), a nested ``Sequential``/functional model's
layers under ``<path>/layers/...`` as in their own files, and a custom layer's sublayers
under the layer's path. A layer's own variables are its trainable ones, then the others,
each group in creation order.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from fastff.keras_format.archive import H5Weights, weights_bytes
from fastff.keras_format.layout import snake_case
from fastff.keras_format.writer import model_spec
from fastff.saving import FormatError


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def _own_params(layer: Any) -> list:
    """Keras's own-variable order: trainable, then non-trainable (creation order within); a
    custom layer's ``params`` include its sublayers', its own are ``_own_params``."""
    params = list(layer.__dict__.get("_own_params", layer.params))
    return [p for p in params if p.trainable] + [p for p in params if not p.trainable]


def _children(obj: Any) -> list[tuple[str, Any]]:
    """``obj``'s attributes that may hold layers, in Keras's visiting order. A subclassed
    model also has Keras's ``layers`` (every tracked layer, in tracking order), visited at
    its place in the sorted order: a layer held by an attribute sorting after "layers" is
    written under ``layers/<snake class>``, as Keras writes it. Attribute names that are the
    framework's own (``output``, ``name``...) are not visited, as in Keras."""
    from fastff.layers.base import UNTRACKED

    skip = UNTRACKED | getattr(obj, "_untracked", frozenset()) | set(
        obj.__dict__.get("_internal_keys", ()))
    own = {name for c in type(obj).__mro__ if c.__module__.startswith("fastff.")
           for name in vars(c)}  # the framework's own attribute names
    items = [(k, v) for k, v in vars(obj).items()
             if v is not obj and k not in skip and not (k in own and not k.startswith("_"))]
    if getattr(obj, "_auto_track", False):
        items.append(("layers", list(obj.layers)))
    return sorted(items, key=lambda kv: _name_key(kv[0]))


def _is_model(obj: Any) -> bool:
    """A Sequential, functional or subclassed model (models are not Layers here)."""
    return hasattr(obj, "_layers") and hasattr(obj, "compile")


def weight_paths(model: Any) -> list[tuple[str, Any, list]]:
    """``(H5 group path, layer, its Params in Keras's order)`` for every layer holding
    variables or not, in the order Keras writes them."""
    from fastff.layers.base import Layer

    out: list[tuple[str, Any, list]] = []
    seen: set[int] = {id(model)}

    def visit(obj: Any, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if _is_model(obj) and not getattr(obj, "_auto_track", False):
            for sub, _, la in model_spec(obj)[1]:  # its own file's groups, under path
                if la is not None and type(la).__name__ != "Input":
                    seen.add(id(la))
                    out.append((f"{path}/{sub}", la, _own_params(la)))
            return
        if isinstance(obj, Layer):
            out.append((path, obj, _own_params(obj)))
        walk(obj, path)

    def container(value: Any, path: str) -> None:
        used: dict[str, int] = {}
        items = list(value.values()) if isinstance(value, dict) else list(value)
        for item in items:  # (the name counter counts layers visited before, as Keras's)
            if isinstance(item, Layer) or _is_model(item):
                base = snake_case(type(item).__name__)
                if base in used:
                    used[base] += 1
                    base = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                visit(item, f"{path}/{base}")
            elif isinstance(item, (list, tuple, dict)):
                container(item, path)

    def walk(obj: Any, path: str) -> None:
        for key, value in _children(obj):
            child = f"{path}/{key}" if path else key
            if isinstance(value, Layer) or _is_model(value):
                visit(value, child)
            elif isinstance(value, (list, tuple, dict)):
                container(value, child)

    walk(model, "")
    return out


def _weights_h5(model: Any, optimizer: list | None = None, opt_name: str = "") -> bytes:
    """The weights file's bytes: every layer under its attribute path (writer._write_h5)."""
    from fastff.keras_format.writer import _write_h5
    from fastff.layers.base import to_host

    stores = [(path, [np.array(to_host(p.value)) for p in params], layer)
              for path, layer, params in weight_paths(model)]
    buf = io.BytesIO()
    _write_h5(buf, stores, model.name, optimizer, opt_name)
    return buf.getvalue()


def _read_into(model: Any, h5: H5Weights, path: str) -> None:
    """Every layer's variables from ``h5``: all checked against the model's shapes before
    any is read, all read before any is assigned."""
    groups = []
    for group, layer, params in weight_paths(model):
        dss = h5.datasets(group)
        if len(dss) != len(params):
            raise FormatError(f"{path}: {group} holds {len(dss)} variables, layer "
                              f"{layer.name!r} has {len(params)} (is this the same model "
                              "class?)")
        for i, (ds, p) in enumerate(zip(dss, params)):
            h5.check(ds, p.shape, f"{group}/vars/{i}")
        groups.append((group, dss, params))
    pending = [(params, [h5.read(ds, p.shape, f"{group}/vars/{i}")
                         for i, (ds, p) in enumerate(zip(dss, params))])
               for group, dss, params in groups]
    for params, arrays in pending:
        for p, a in zip(params, arrays):
            p.assign(a.astype(p.value.dtype, copy=False))


def save_tracked_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write a subclassed model's weights as Keras 3 writes them (atomically)."""
    from fastff import distribution
    from fastff._atomic import atomic_write

    if not distribution.is_chief():
        return
    if not model.built:
        raise ValueError(f"{type(model).__name__}.save_weights: the model is not built; call "
                         "it on a batch (or fit) first")
    data = _weights_h5(model)
    atomic_write(path, lambda f: f.write(data))


def load_tracked_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load a Keras 3 ``.weights.h5`` (or ``.keras``) file into a built subclassed model with
    the same attribute structure; every array is checked before any is assigned."""
    path = os.fspath(path)
    if not model.built:
        raise ValueError(f"{type(model).__name__}.load_weights: build the model first (call "
                         "it on a batch, or model.build(input_shape))")
    h5 = H5Weights(path, weights_bytes(path))
    try:
        _read_into(model, h5, path)
    finally:
        h5.close()


# ---------------------------------------------------------------------------- .keras files
def trainable_in_keras_order(model: Any) -> list | None:
    """The trainable Params in the order of Keras's ``model.trainable_variables`` (its
    optimizer variables follow it): each tracked layer's own, in tracking order. None when a
    layer holds sublayers (their order inside Keras's list is not mapped)."""
    from fastff.layers.base import Layer

    out = []
    for layer in model.layers:
        if not isinstance(layer, Layer) or layer.__dict__.get("_sublayers"):
            return None
        if model.trainable and layer.trainable:
            out.extend(p for p in _own_params(layer) if p.trainable)
    return out


def save_tracked_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """A subclassed model as Keras 3 writes one to ``.keras``: the class (module, name,
    registered name), its ``get_config``, the built input shape, the compile config, and the
    weights in the attribute layout (the optimizer's too, where its order maps). Loading needs
    the class (``custom_objects`` or the registry), as in Keras."""
    from fastff import _registry, distribution
    from fastff.keras_format.writer import (
        _compile_config,
        _optimizer_vars,
        _policy,
        write_archive,
    )

    if not distribution.is_chief():
        return
    cls = type(model)
    if not model.built or model._input_shape is None or not isinstance(
            model.input_shape, tuple) or not all(isinstance(d, (int, type(None)))
                                                  for d in model.input_shape):
        raise ValueError(f"{cls.__name__}.save: a subclassed model is saved as .keras once it "
                         "is built on one input array (call it on a batch, or fit, first); "
                         "models of several inputs: use fastff's format")
    config = dict(model.get_config())
    config["dtype"] = _policy(np.dtype(model.dtype))
    doc = {"module": cls.__module__, "class_name": cls.__name__, "config": config,
           "registered_name": _registry.get_registered_name(cls),
           "build_config": {"input_shape": [None, *model.input_shape[1:]]},
           "compile_config": _compile_config(model)}
    trainable = trainable_in_keras_order(model)
    opt_vars = _optimizer_vars(model, trainable) if trainable is not None else []
    opt = getattr(model, "optimizer", None)
    write_archive(path, doc, _weights_h5(model, opt_vars, getattr(opt, "name", "")))


def model_class(doc: dict, custom_objects: Any, path: str) -> Any:
    """The subclassed-model class a ``.keras`` config names, from ``custom_objects`` or the
    registry only (never imported from the file); FormatError when neither knows it."""
    from fastff import _registry

    names = [n for n in (doc.get("registered_name"), doc.get("class_name"))
             if isinstance(n, str)]
    for name in names:
        cls = _registry.get_registered_object(name, custom_objects)
        if cls is not None:
            break
    else:
        raise FormatError(f"{path}: the model class {doc.get('class_name')!r} is not known; "
                          "pass custom_objects={'" + str(doc.get("class_name")) + "': "
                          "TheClass} or register it (fastff.saving.register_keras_serializable)"
                          " - classes are never loaded from a file")
    if not (isinstance(cls, type) and getattr(cls, "_auto_track", False)):
        raise FormatError(f"{path}: {doc.get('class_name')!r} resolves to {cls!r}, not a "
                          "subclass of fastff.Model")
    return cls


def load_tracked_keras(doc: dict, h5: H5Weights, path: str, custom_objects: Any) -> Any:
    """A subclassed model, built, with its weights, from a ``.keras`` file's config (see
    ``save_tracked_keras``); the reader compiles it."""
    cls = model_class(doc, custom_objects, path)
    config = doc.get("config")
    if not isinstance(config, dict):
        raise FormatError(f"{path}: the model config must be an object")
    config = dict(config)
    policy = config.get("dtype")
    if isinstance(policy, dict):  # Keras's DTypePolicy object
        inner = policy.get("config")
        config["dtype"] = inner.get("name") if isinstance(inner, dict) else None
    try:
        model = cls.from_config(config)
    except (TypeError, ValueError) as e:
        raise FormatError(f"{path}: {cls.__name__}.from_config failed on the saved config: "
                          f"{e}") from None
    build = doc.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if not isinstance(shape, list) or not shape or len(shape) > 8 or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 24)
            for d in shape):
        raise FormatError(f"{path}: build_config.input_shape must be a list of dimensions, "
                          f"got {shape!r}")
    model.build((None, *shape[1:]))
    _read_into(model, h5, path)
    return model
