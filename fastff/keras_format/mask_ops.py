"""Keras's serialized masks in a functional model, checked against fastff's implicit ones.

Keras 3 writes the mask a layer receives as explicit operations in the functional config:
``Embedding(mask_zero=True)`` reading ``ids`` gives ``NotEqual(ids, 0)``, ``Masking(v)``
reading ``x`` gives ``Any(NotEqual(x, v), axis=-1)``, and the mask-consuming layer is called
with ``mask=`` that tensor. fastff derives the same mask itself (``fastff.layers.masking``),
so the reader accepts those two operations only where they compute exactly the mask fastff
will derive for that layer's input, and refuses any other use (a mask fastff would not
reproduce). The operations hold no variables (Keras gives them no H5 group).
"""

from __future__ import annotations

import math
from typing import Any

from fastff.saving import FormatError

#: the Keras operation classes that may appear in a functional config to carry a mask
MASK_OPS = ("NotEqual", "Any")


def parse(spec: dict, history: Any, path: str) -> tuple:
    """``("ne", source, value)`` or ``("any", source)`` of a ``NotEqual``/``Any`` entry
    (``history`` reads a Keras tensor's source name)."""
    cls, name = spec.get("class_name"), spec.get("name")
    what = f"operation {name!r} ({cls})"
    if spec.get("module") != "keras.src.ops.numpy" or spec.get("registered_name") not in (
            None, cls):
        raise FormatError(f"{path}: {what} is not Keras's own operation")
    cfg = spec.get("config") or {}
    nodes = spec.get("inbound_nodes")
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict) or \
            not isinstance(cfg, dict):
        raise FormatError(f"{path}: {what} must be called once")
    args, kwargs = nodes[0].get("args"), nodes[0].get("kwargs") or {}
    if not isinstance(args, list) or kwargs != {}:
        raise FormatError(f"{path}: {what}: unsupported call arguments")
    if cls == "NotEqual":
        if len(args) != 2 or isinstance(args[1], bool) or not isinstance(args[1], (int, float)) \
                or not math.isfinite(args[1]):
            raise FormatError(f"{path}: {what} must compare a tensor with a finite number")
        return ("ne", history(args[0], path), float(args[1]))
    if len(args) != 1 or cfg.get("axis") != -1 or cfg.get("keepdims", False) is not False:
        raise FormatError(f"{path}: {what}: only any(..., axis=-1) carries a Masking mask")
    return ("any", history(args[0], path))


def check_mask(mask: str, ops: dict, layers: dict, source: str, consumer: str,
               path: str) -> None:
    """``mask`` (an operation's name) must be the mask fastff derives for ``source``, the
    input of the mask-consuming layer ``consumer``: traced back through layers that pass
    masks on to the ``Masking`` or ``Embedding(mask_zero=True)`` that makes it.
    ``layers`` maps a layer's name to ``(fastff layer, [its sources])``."""
    from fastff.layers.masking import Masking

    expected = None
    node = source
    for _ in range(len(layers) + 1):
        if node not in layers:
            break
        layer, srcs = layers[node]
        if isinstance(layer, Masking):
            expected = ("any", ("ne", srcs[0], float(layer.mask_value)))
            break
        if type(layer).__name__ == "Embedding" and layer.mask_zero:
            expected = ("ne", srcs[0], 0.0)
            break
        if len(srcs) != 1 or getattr(layer, "compute_mask", None) is not None or \
                not getattr(layer, "supports_masking", False):
            break
        node = srcs[0]

    got = ops.get(mask)
    if got is not None and got[0] == "any":  # any(not_equal(x, v)): one level, no chains
        inner = ops.get(got[1])
        got = ("any", inner) if inner is not None and inner[0] == "ne" else None
    if expected is None or got != expected:
        raise FormatError(f"{path}: layer {consumer!r} is called with a mask fastff does not "
                          f"derive for its input {source!r} (fastff passes the masks of "
                          "Masking and Embedding(mask_zero=True) on by itself)")
