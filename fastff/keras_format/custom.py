"""Custom layers (the user's own ``Layer`` subclasses) in Keras 3 configs, both ways.

Keras writes a custom layer as ``{"module": <its module>, "class_name": <its class>,
"config": <its get_config()>, "registered_name": "package>Name"}`` (the class name when it
was not registered) and its variables as any layer's, under ``layers/<snake class>[_k]``:
its own ones (trainable first) in ``vars``, a sublayer's under the attribute holding it
(``keras_format.tracked``). Reading, the class comes from ``custom_objects`` or fastff's
registry (``register_keras_serializable``) by the registered name, then the class name —
never from the file: the ``module`` is not imported — and is rebuilt with ``from_config``.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastff.saving import FormatError

#: the ``custom_objects`` of the ``load_keras`` in progress
CUSTOM_OBJECTS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "fastff_keras_custom_objects", default=None)


def is_custom(layer: Any) -> bool:
    """Is ``layer`` an instance of a user's own Layer class (not one of fastff's)?"""
    from fastff.layers.base import Layer

    module = type(layer).__module__ or ""
    return isinstance(layer, Layer) and not (module == "fastff" or module.startswith("fastff."))


class Group:
    """The variables of one H5 group of a custom layer (its own, or one sublayer's): what
    the writer writes and the readers assign, in Keras's order."""

    def __init__(self, layer: Any, params: list, trainable: bool):
        self.layer, self.params, self.trainable = layer, params, trainable
        self.name = layer.name

    def __repr__(self) -> str:
        return f"<H5 group of {self.layer.name!r}>"


def groups(layer: Any, path: str, model_spec: Any) -> list[tuple[str, Group]]:
    """``(H5 group, Group)`` of a built custom layer: its own variables at ``path``, each
    sublayer's under the attribute path holding it (``model_spec``: the writer's, for a
    model held by the layer)."""
    from fastff.keras_format.walk import weight_paths

    return [(p, Group(la, params, bool(layer.trainable and la.trainable)))
            for p, la, params in weight_paths(layer, model_spec, path)]


def write_spec(layer: Any, dtype: np.dtype) -> dict:
    """The Keras object of a custom layer: its module, class, registered name and
    ``get_config()`` (with Keras's dtype policy)."""
    from fastff import _registry
    from fastff.keras_format.serial import policy

    cls = type(layer)
    try:
        cfg = dict(layer.get_config())
    except (TypeError, ValueError, NotImplementedError) as e:
        raise ValueError(f"save_keras: custom layer {layer.name!r} ({cls.__name__}): "
                         f"get_config() failed: {e}") from None
    cfg["dtype"] = policy(np.dtype(layer.dtype or dtype))
    try:
        json.dumps(cfg, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"save_keras: custom layer {layer.name!r} ({cls.__name__}): its "
                         f"get_config() is not plain JSON data ({e})") from None
    module = None if cls.__module__ == "__main__" else cls.__module__  # as Keras writes it
    return {"module": module, "class_name": cls.__name__, "config": cfg,
            "registered_name": _registry.get_registered_name(cls)}


def is_custom_spec(spec: dict, known: tuple) -> bool:
    """Does a layer spec name a class outside Keras (its module, or a registered name other
    than the class name), or a class fastff does not map?"""
    cls, module, reg = spec.get("class_name"), spec.get("module"), spec.get("registered_name")
    if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
        return True
    return reg not in (None, cls) or cls not in known


def build(spec: dict, path: str, known: tuple) -> tuple[str, Any, dict]:
    """``(class name, layer, config)`` of a custom layer spec, its class resolved from
    ``custom_objects`` or the registry only; FormatError naming it when neither has it."""
    from fastff import _registry
    from fastff.keras_format.fields import policy_dtype
    from fastff.layers.base import Layer

    cls_name, cfg = spec.get("class_name"), spec.get("config")
    reg, module = spec.get("registered_name"), spec.get("module")
    if not isinstance(cfg, dict):
        raise FormatError(f"{path}: layer {cls_name!r} has no config object")
    name = cfg.get("name")
    what = f"layer {name or '?'!r} ({cls_name})"
    if isinstance(module, str) and (module == "keras" or module.startswith("keras.")) and \
            reg in (None, cls_name):  # Keras's own class: never replaced by a user's
        raise FormatError(f"{path}: {what} is not supported by fastff; supported: "
                          f"{', '.join(known)}")
    custom = CUSTOM_OBJECTS.get()
    found = None
    for key in (reg, cls_name):
        if isinstance(key, str) and key:
            found = _registry.get_registered_object(key, custom)
            if found is not None:
                break
    if found is None:
        raise FormatError(
            f"{path}: {what} is a custom class (registered as {reg!r}, module {module!r}) "
            f"that fastff does not know; pass custom_objects={{{cls_name!r}: TheClass}} or "
            "register the class (fastff.saving.register_keras_serializable) - classes are "
            "never loaded from a file")
    from fastff.layers import Lambda

    if not (isinstance(found, type) and issubclass(found, Layer)) or issubclass(found, Lambda):
        raise FormatError(f"{path}: {what} resolves to {found!r}, not a fastff Layer class")
    cfg = dict(cfg)
    cfg["dtype"] = policy_dtype(cfg, path, what)
    if cfg["dtype"] is None:
        del cfg["dtype"]
    if isinstance(cfg.get("autocast"), bool):  # Keras's base-layer argument (mixed
        del cfg["autocast"]  # precision only, which fastff does not compute in)
    try:
        layer = found.from_config(cfg)
    except Exception as e:  # noqa: BLE001 - the user's from_config / __init__
        raise FormatError(f"{path}: {what}: {found.__name__}.from_config failed on the saved "
                          f"config: {type(e).__name__}: {e}") from None
    if not isinstance(layer, Layer):
        raise FormatError(f"{path}: {what}: from_config returned {type(layer).__name__}")
    return cls_name, layer, cfg


def read_groups(h5: Any, group: str, layer: Any, in_shape: Any, used: list[int],
                model_spec: Any) -> list:
    """``[(Group, arrays)]`` of a custom layer built for ``in_shape``, every array checked
    (dtype, shape, the total against the file's size) before any is read."""
    try:
        layer.build_for(in_shape, layer.dtype)
    except Exception as e:  # noqa: BLE001 - the user's build
        raise FormatError(f"{h5.path}: custom layer {layer.name!r} cannot be built for inputs "
                          f"of shape {(None, *in_shape)}: {type(e).__name__}: {e}") from None
    found = groups(layer, group, model_spec)
    pending = []
    for g, grp in found:
        dss = h5.datasets(g)
        if len(dss) != len(grp.params):
            raise FormatError(f"{h5.path}: {g} holds {len(dss)} variables, layer "
                              f"{grp.layer.name!r} has {len(grp.params)}")
        for i, (ds, p) in enumerate(zip(dss, grp.params)):
            kinds = "iuf" if np.dtype(p.value.dtype).kind in "iu" else "f"
            used[0] += h5.check(ds, p.shape, f"{g}/vars/{i}", kinds)
            if used[0] > h5.size:
                raise FormatError(f"{h5.path}: the config declares more weight data than the "
                                  f"{h5.size}-byte weights file holds")
        pending.append((g, grp, dss))
    return [(grp, [h5.read(ds, p.shape, f"{g}/vars/{i}",
                           "iuf" if np.dtype(p.value.dtype).kind in "iu" else "f")
                   for i, (ds, p) in enumerate(zip(dss, grp.params))])
            for g, grp, dss in pending]
