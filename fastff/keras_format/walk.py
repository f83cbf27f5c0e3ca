"""The walk over a model's or a custom layer's attributes that gives Keras 3's weight
layout for tracked objects (subclassed models, custom layers): each layer's own variables
under the attribute path holding it, containers' layers under the container's path plus
their snake-cased class name made unique, attributes sorted with the private ones last
(``keras_format.tracked`` describes the layout)."""

from __future__ import annotations

from typing import Any

from fastff.keras_format.layout import snake_case


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def own_params(layer: Any) -> list:
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


def weight_paths(model: Any, model_spec: Any,
                 root_path: str | None = None) -> list[tuple[str, Any, list]]:
    """``(H5 group path, layer, its Params in Keras's order)`` for every layer holding
    variables or not, in the order Keras writes them. With ``root_path``, ``model`` is one
    (custom) layer: its own variables under ``root_path``, its sublayers' below it.
    ``model_spec`` (``keras_format.writer.model_spec``) gives a nested Sequential's or
    functional model's groups."""
    from fastff.layers.base import Layer

    out: list[tuple[str, Any, list]] = []
    seen: set[int] = {id(model)} if root_path is None else set()

    def visit(obj: Any, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if _is_model(obj) and not getattr(obj, "_auto_track", False):
            for sub, _, la in model_spec(obj)[1]:  # its own file's groups, under path
                if la is not None and type(la).__name__ != "Input":
                    seen.add(id(la))
                    out.append((f"{path}/{sub}", la, own_params(la)))
            return
        if isinstance(obj, Layer):
            out.append((path, obj, own_params(obj)))
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

    if root_path is None:
        walk(model, "")
    else:
        visit(model, root_path)
    return out
