"""The registry of user classes and functions that saved configs may name.

``register_serializable`` (Keras's ``register_keras_serializable``) records a class or function
under ``"package>name"`` and under its bare name, so a saved model that names it can be loaded
without ``custom_objects``. Only what was registered here (or passed in ``custom_objects``) is
ever resolved from a file; nothing is imported by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["register_serializable", "get_registered_object", "get_registered_name",
           "registered_name_of", "registered_objects"]

_BY_NAME: dict[str, Any] = {}
_NAME_OF: dict[int, str] = {}


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator: make a class or function resolvable by name when a saved config is loaded."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_serializable: package must be a string without '>', got "
                         f"{package!r}")

    def decorator(obj: Any) -> Any:
        key_name = name or getattr(obj, "__name__", None)
        if not isinstance(key_name, str) or not key_name:
            raise TypeError(f"register_serializable: {obj!r} has no __name__; pass name=")
        if isinstance(obj, type) and not callable(getattr(obj, "get_config", None)):
            raise TypeError(f"register_serializable: class {obj.__name__} must define "
                            "get_config() to be serializable")
        full = f"{package}>{key_name}"
        _BY_NAME[full] = obj
        _BY_NAME[key_name] = obj
        _NAME_OF[id(obj)] = full
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """``"package>name"`` for a registered object, else its ``__name__``."""
    return _NAME_OF.get(id(obj)) or getattr(obj, "__name__", type(obj).__name__)


def registered_name_of(obj: Any) -> str | None:
    """``"package>name"`` when ``obj`` was registered, else None."""
    return _NAME_OF.get(id(obj))


def get_registered_object(name: str, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """What ``name`` resolves to: ``custom_objects`` first, then the registry; None if neither
    knows it."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _BY_NAME:
        return _BY_NAME[name]
    if ">" in name:  # "package>name" saved, bare name passed in custom_objects
        bare = name.split(">", 1)[1]
        if custom_objects and bare in custom_objects:
            return custom_objects[bare]
    return None


def registered_objects() -> dict[str, Any]:
    """Everything registered, by bare and by ``"package>name"`` keys (a copy)."""
    return dict(_BY_NAME)
