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

from fastff.keras_format import walk
from fastff.keras_format.archive import H5Weights, weights_bytes
from fastff.keras_format.walk import own_params as _own_params
from fastff.keras_format.writer import model_spec
from fastff.saving import FormatError


def weight_paths(model: Any) -> list[tuple[str, Any, list]]:
    """``(H5 group path, layer, its Params in Keras's order)`` for every layer of a
    subclassed model, in the order Keras writes them (``keras_format.walk``)."""
    return walk.weight_paths(model, model_spec)


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
