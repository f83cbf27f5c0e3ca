"""Keras 3's automatic ``get_config`` for user layers and subclassed models.

A user ``Layer`` or ``Model`` subclass that does not write ``get_config`` is saved from the
arguments its ``__init__`` was called with (Keras 3 records them at construction): numbers,
strings, booleans, None, lists/tuples/dicts of them, and fastff layers (built-in or
registered custom ones, stored by their own config). ``from_config`` calls ``cls(**config)``
with those arguments back. An argument of any other kind makes ``get_config`` raise
``NotImplementedError`` naming the argument: such a class must write ``get_config`` (and
``from_config`` when its arguments are not plain values).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["InitArgs", "auto_config", "capture", "lenient", "register_layers", "revive"]

_STATE = threading.local()
# (Layer class, serialize, deserialize), set by fastff.layers when it loads (this module sits
# below the layers and does not import them)
_LAYERS: list[tuple[type, Any, Any]] = []


def register_layers(layer_cls: type, serialize: Any, deserialize: Any) -> None:
    """Called once by ``fastff.layers``: how layer arguments are recognised and stored."""
    _LAYERS[:] = [(layer_cls, serialize, deserialize)]

_LAYER_KEY = "__fastff_layer__"  # marks a layer argument stored as its serialized config


class InitArgs:
    """The arguments a constructor was called with (opaque: layer tracking, which scans an
    instance's attributes for layers, does not look inside)."""

    __slots__ = ("args", "kwargs")

    def __init__(self, args: tuple, kwargs: dict) -> None:
        self.args, self.kwargs = args, kwargs


def capture(cls: type, base_get_config: Any, args: tuple, kwargs: dict) -> InitArgs | None:
    """The constructor's arguments to keep on a new instance of ``cls``: only for a user
    class (outside fastff) whose ``get_config`` is the base one, else None."""
    if cls.get_config is not base_get_config or cls.__module__.split(".")[0] == "fastff":
        return None
    return InitArgs(args, dict(kwargs))


@contextlib.contextmanager
def lenient() -> Iterator[None]:
    """Within it an argument that cannot be saved is kept as it is instead of raising (a
    weights file records the config for information only)."""
    before = getattr(_STATE, "lenient", False)
    _STATE.lenient = True
    try:
        yield
    finally:
        _STATE.lenient = before


def _plain(value: Any, where: str, owner: str) -> Any:
    """``value`` as JSON-ready data, or NotImplementedError naming ``where``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", owner) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) \
            and _LAYER_KEY not in value:
        return {k: _plain(v, f"{where}[{k!r}]", owner) for k, v in value.items()}
    if _LAYERS and isinstance(value, _LAYERS[0][0]):
        return {_LAYER_KEY: _LAYERS[0][1](value)}
    if getattr(_STATE, "lenient", False):
        return value
    raise NotImplementedError(
        f"{owner}.get_config: the __init__ argument {where} is {_describe(value)}, which "
        f"cannot be saved automatically (numbers, strings, booleans, None, lists/dicts of "
        f"them and layers can). Write {owner}.get_config() returning the __init__ arguments "
        "(and a from_config() that rebuilds this one), or use save_weights().")


def _describe(value: Any) -> str:
    if callable(value) and not isinstance(value, type):
        return f"the Python function {getattr(value, '__qualname__', value)!r}"
    return f"a {type(value).__module__}.{type(value).__qualname__} object"


def auto_config(obj: Any, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the base class's config) updated with the recorded ``__init__`` arguments;
    base keys the ``__init__`` cannot take (it has no ``**kwargs``) are dropped, as Keras."""
    cls = type(obj)
    recorded = obj.__dict__.get("_init_args")
    args, kwargs = (recorded.args, recorded.kwargs) if recorded is not None else ((), {})
    sig = inspect.signature(cls.__init__)
    try:
        bound = sig.bind(obj, *args, **kwargs)
    except TypeError:  # pragma: no cover - the call itself succeeded with these arguments
        bound = None
    params = list(sig.parameters.values())[1:]
    config = dict(base)
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        config = {k: v for k, v in config.items() if k in names}
    if bound is None:
        return config
    for name, value in list(bound.arguments.items())[1:]:
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise NotImplementedError(
                    f"{cls.__name__}.get_config: __init__ was given {len(value)} extra "
                    f"positional argument(s) (*{name}), which a config cannot pass back; "
                    f"write {cls.__name__}.get_config()")
        elif kind is inspect.Parameter.VAR_KEYWORD:
            for k, v in value.items():
                config[k] = _plain(v, repr(k), cls.__name__)
        else:
            config[name] = _plain(value, repr(name), cls.__name__)
    return config


def revive(config: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``config`` with stored layers rebuilt (their classes: fastff's or
    registered ones)."""
    def back(v: Any) -> Any:
        if isinstance(v, list):
            return [back(x) for x in v]
        if isinstance(v, dict):
            if set(v) == {_LAYER_KEY} and _LAYERS:
                from fastff._registry import registered_objects

                return _LAYERS[0][2](v[_LAYER_KEY], registered_objects())
            return {k: back(x) for k, x in v.items()}
        return v

    return {k: back(v) for k, v in config.items()}
