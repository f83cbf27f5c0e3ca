"""Checked reading of Keras config fields: types, ranges, dimensions, dtype policies and
Keras initializer / regularizer / constraint objects (every problem a ``FormatError``)."""

from __future__ import annotations

import math
from typing import Any

from fastff.keras_format.layout import ACTIVATIONS, FLOATS, MAX_PARAMS
from fastff.saving import FormatError


def get(cfg: Any, key: str, types: Any, path: str, what: str, default: Any = ...) -> Any:
    if not isinstance(cfg, dict):
        raise FormatError(f"{path}: {what} must be an object")
    if key not in cfg:
        if default is ...:
            raise FormatError(f"{path}: {what} has no {key!r}")
        return default
    v = cfg[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in
                                    (types if isinstance(types, tuple) else (types,))):
        raise FormatError(f"{path}: {what}.{key} has the wrong type ({type(v).__name__})")
    return v


def dim(v: Any, path: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_PARAMS:
        raise FormatError(f"{path}: {what} must be a positive integer, got {v!r}")
    return v


def policy_dtype(cfg: Any, path: str, what: str) -> str | None:
    pol = cfg.get("dtype") if isinstance(cfg, dict) else None
    if pol is None:
        return None
    name = pol if isinstance(pol, str) else (pol.get("config") or {}).get("name") \
        if isinstance(pol, dict) else None
    if name not in FLOATS - {"float16"}:
        raise FormatError(f"{path}: {what} has dtype policy {name!r}; fastff computes in "
                          "float32 or float64")
    return name


def keras_object(spec: Any, module: Any, kind: str, path: str, what: str) -> Any:
    """A fastff initializer/regularizer from a Keras ``{"class_name", "config"}`` (keys
    fastff's class lacks are dropped: they only matter for re-initialization)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        try:
            return module.get(spec)
        except (TypeError, ValueError) as e:
            raise FormatError(f"{path}: {what}: unsupported {kind} {spec!r}: {e}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise FormatError(f"{path}: {what} must be a Keras {kind} object")
    cls_name, cfg = spec["class_name"], spec.get("config") or {}
    try:
        return module.deserialize({"class_name": cls_name, "config": cfg})
    except (TypeError, ValueError, KeyError):
        pass
    try:
        default = module.deserialize({"class_name": cls_name, "config": {}})
        known = default.get_config() if hasattr(default, "get_config") else {}
        return module.deserialize({"class_name": cls_name,
                                   "config": {k: v for k, v in cfg.items() if k in known}})
    except (TypeError, ValueError, KeyError) as e:
        raise FormatError(f"{path}: {what}: unsupported {kind} {cls_name!r}: {e}") from None


def activation(cfg: dict, path: str, what: str) -> str:
    act = cfg.get("activation", "linear")
    if act is None:
        return "linear"
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise FormatError(f"{path}: {what}: activation {act!r} is not supported (fastff reads "
                          f"{', '.join(sorted(ACTIVATIONS))})")
    return act


def refuse_set(cfg: dict, keys: tuple, path: str, what: str) -> None:
    for key in keys:
        if cfg.get(key) not in (None, False, 0, {}):
            raise FormatError(f"{path}: {what}: {key}={cfg[key]!r} is not supported by fastff")


def number(cfg: dict, key: str, default: Any, path: str, what: str, low: float | None = None,
           low_open: bool = False) -> float:
    """A finite number field (``low``: its lower bound, exclusive when ``low_open``)."""
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (
            low is not None and (v <= low if low_open else v < low)):
        bound = "" if low is None else f" {'>' if low_open else '>='} {low}"
        raise FormatError(f"{path}: {what}.{key} must be a finite number{bound}, got {v!r}")
    return float(v)


def integer(cfg: dict, key: str, default: Any, path: str, what: str, low: int = 0,
            allow_none: bool = False) -> int | None:
    """An integer field ``>= low`` (None allowed when ``allow_none``)."""
    v = cfg.get(key, default)
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= MAX_PARAMS:
        raise FormatError(f"{path}: {what}.{key} must be an integer >= {low}"
                          f"{' or null' if allow_none else ''}, got {v!r}")
    return v


def int_list(v: Any, path: str, what: str, low: int | None = None) -> list[int]:
    """A non-empty list of integers (each ``>= low``), e.g. axes or a target shape."""
    if not isinstance(v, list) or not v or len(v) > 64 or any(
            isinstance(d, bool) or not isinstance(d, int) or abs(d) > MAX_PARAMS
            or (low is not None and d < low) for d in v):
        raise FormatError(f"{path}: {what} must be a list of integers"
                          f"{'' if low is None else f' >= {low}'}, got {v!r}")
    return list(v)


def numbers(v: Any, path: str, what: str, limit: int = 1 << 20) -> Any:
    """A finite number or a (nested, rectangular) list of them, at most ``limit`` entries."""
    import numpy as np

    if isinstance(v, bool):
        raise FormatError(f"{path}: {what} must be a number or a list of numbers, got {v!r}")
    if isinstance(v, (int, float)):
        if not math.isfinite(v):
            raise FormatError(f"{path}: {what} must be finite, got {v!r}")
        return v
    count = [0]

    def walk(x: Any, depth: int) -> None:
        if depth > 8:
            raise FormatError(f"{path}: {what} nests too deeply")
        if isinstance(x, list):
            for item in x:
                walk(item, depth + 1)
            return
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise FormatError(f"{path}: {what} must hold finite numbers, got {x!r}")
        count[0] += 1
        if count[0] > limit:
            raise FormatError(f"{path}: {what} holds more than {limit} numbers")

    if not isinstance(v, list):
        raise FormatError(f"{path}: {what} must be a number or a list of numbers, got "
                          f"{type(v).__name__}")
    walk(v, 0)
    try:
        np.asarray(v, dtype=np.float64)
    except ValueError:
        raise FormatError(f"{path}: {what} is not a rectangular list of numbers") from None
    return v


def choice(cfg: dict, key: str, default: Any, options: tuple, path: str, what: str) -> Any:
    v = cfg.get(key, default)
    if v not in options or isinstance(v, bool) != isinstance(default, bool):
        raise FormatError(f"{path}: {what}.{key} must be one of {options}, got {v!r}")
    return v
