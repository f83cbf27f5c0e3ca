"""Layers, one file each, resolved by class name like Keras (get / serialize / deserialize)."""

from __future__ import annotations

from typing import Any

from fastff.layers.activation import Activation
from fastff.layers.base import Layer, Param, Workspace
from fastff.layers.dense import Dense
from fastff.layers.dropout import Dropout
from fastff.layers.flatten import Flatten
from fastff.layers.input import Input, InputLayer

__all__ = ["Layer", "Param", "Workspace", "Input", "InputLayer", "Dense", "Activation", "Dropout",
           "Flatten", "get", "serialize", "deserialize"]

_BUILTIN: dict[str, type[Layer]] = {
    "Input": Input, "InputLayer": Input, "Dense": Dense, "Activation": Activation,
    "Dropout": Dropout, "Flatten": Flatten,
}


def _lookup(name: str, custom_objects: dict | None) -> type[Layer]:
    cls = (custom_objects or {}).get(name) or _BUILTIN.get(name)
    if cls is None:
        from fastff.activations import _unknown

        raise _unknown("layer", name, list(_BUILTIN))
    return cls


def get(identifier: Any, custom_objects: dict | None = None) -> Layer:
    """A layer instance from an instance, a config dict or a class name (default arguments)."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str):
        return _lookup(identifier, custom_objects)()
    raise TypeError(f"layer: expected a Layer, config dict or class name, got {identifier!r}")


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """Build a layer from ``{"class_name", "config"}``; user classes from ``custom_objects``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"layer config must be a dict with 'class_name' and 'config', got {config!r}")
    cls = _lookup(config["class_name"], custom_objects)
    cfg = dict(config.get("config", {}))
    if custom_objects:
        from fastff import activations

        act = cfg.get("activation")
        if act is not None:
            cfg["activation"] = activations.deserialize(act, custom_objects)
    return cls.from_config(cfg)
