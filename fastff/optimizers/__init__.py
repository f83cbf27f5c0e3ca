"""Optimizers resolved by name like Keras: ``get("adam")``, ``get({"class_name": ...})``."""

from __future__ import annotations

from typing import Any

from fastff._suggest import did_you_mean
from fastff.optimizers import schedules
from fastff.optimizers.adadelta_lion import Adadelta, Ftrl, Lion
from fastff.optimizers.adagrad import Adagrad
from fastff.optimizers.adam import Adam, AdamW
from fastff.optimizers.adamax import Adamax, Nadam
from fastff.optimizers.base import Optimizer
from fastff.optimizers.rmsprop import RMSprop
from fastff.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "Nadam",
           "Adadelta", "Lion", "Ftrl", "schedules", "get", "serialize", "deserialize"]

_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
    "adamax": Adamax, "nadam": Nadam, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl,
}


def _lookup(name: str, custom_objects: dict[str, Any] | None = None) -> type[Optimizer]:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    key = str(name).lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    hint = did_you_mean(key, list(_BY_NAME))
    raise ValueError(f"Unknown optimizer {name!r}; valid names: {', '.join(_BY_NAME)}.{hint}")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name", "config"}`` (JSON-able)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """Inverse of ``serialize``."""
    if "class_name" not in config:
        raise ValueError(f"Optimizer config needs a 'class_name': {config!r}")
    cls = _lookup(config["class_name"], custom_objects)
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (case-insensitive), a serialized dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
