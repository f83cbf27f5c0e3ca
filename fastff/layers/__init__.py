"""Layers, one file each, resolved by class name like Keras (get / serialize / deserialize)."""

from __future__ import annotations

from typing import Any

from fastff import _auto_config
from fastff.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from fastff.layers.base import Layer, Param, Workspace
from fastff.layers.dense import Dense
from fastff.layers.dropout import Dropout
from fastff.layers.flatten import Flatten
from fastff.layers.input import Input, InputLayer

# layers in other files, loaded on first use (so a layer family that needs more imports costs
# nothing until used): class name -> module
_LAZY = {
    "Embedding": "embedding", "WindowEmbedding": "embedding", "EmbeddingBag": "embedding_bag",
    "Bucketize": "bucketize", "Concatenate": "concatenate",
    # normalization
    "BatchNormalization": "batch_normalization", "LayerNormalization": "layer_normalization",
    "Normalization": "normalization", "UnitNormalization": "unit_normalization",
    "Rescaling": "rescaling",
    # activations with weights
    "PReLU": "prelu",
    # merging and shaping
    "Add": "merging", "Subtract": "merging", "Multiply": "merging", "Average": "merging",
    "Maximum": "merging", "Minimum": "merging", "Dot": "merging",
    "Reshape": "reshaping", "RepeatVector": "reshaping", "Permute": "reshaping",
    "Identity": "reshaping", "Lambda": "lambda_layer",
    # sequences and masks
    "Masking": "masking", "GlobalAveragePooling1D": "pooling",
    "GlobalMaxPooling1D": "pooling",
    # noise
    "GaussianNoise": "noise", "GaussianDropout": "noise", "AlphaDropout": "noise",
    "SpatialDropout1D": "noise",
    # preprocessing
    "CategoryEncoding": "category_encoding", "Discretization": "discretization",
    "IntegerLookup": "lookup", "StringLookup": "lookup",
    "TextVectorization": "text_vectorization",
}

__all__ = ["Layer", "Param", "Workspace", "Input", "InputLayer", "Dense", "Activation", "Dropout",
           "ReLU", "LeakyReLU", "ELU", "Softmax",
           "Flatten", "get", "serialize", "deserialize", "register_layer", *_LAZY]

_BUILTIN: dict[str, type[Layer]] = {
    "Input": Input, "InputLayer": Input, "Dense": Dense, "Activation": Activation,
    "Dropout": Dropout, "Flatten": Flatten,
    "ReLU": ReLU, "LeakyReLU": LeakyReLU, "ELU": ELU, "Softmax": Softmax,
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        cls = getattr(importlib.import_module(f"fastff.layers.{_LAZY[name]}"), name)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module 'fastff.layers' has no attribute {name!r}")


def register_layer(cls: type[Layer], name: str | None = None) -> type[Layer]:
    """Make a Layer subclass resolvable by class name in configs (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer: expected a Layer subclass, got {cls!r}")
    _BUILTIN[name or cls.__name__] = cls
    return cls


def _lookup(name: str, custom_objects: dict | None) -> type[Layer]:
    cls = (custom_objects or {}).get(name) or _BUILTIN.get(name)
    if cls is None:
        from fastff._registry import get_registered_object

        cls = get_registered_object(name)
    if cls is None and name in _LAZY:
        cls = __getattr__(name)
    if cls is None:
        from fastff.activations import _unknown

        raise _unknown("layer", name, [*_BUILTIN, *_LAZY])
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
    own = getattr(layer, "serialized", None)  # a node standing for a nested model
    if own is not None:
        return own()
    out = {"class_name": type(layer).__name__, "config": layer.get_config()}
    from fastff._registry import registered_name_of

    registered = registered_name_of(type(layer))
    if registered is not None:  # as Keras: two packages may register the same class name
        out["registered_name"] = registered
    return out


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """Build a layer from ``{"class_name", "config"}``; user classes from ``custom_objects``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"layer config must be a dict with 'class_name' and 'config', got {config!r}")
    registered = config.get("registered_name")
    cls = None
    if isinstance(registered, str) and registered != config["class_name"]:
        from fastff._registry import get_registered_object

        cls = get_registered_object(registered, custom_objects)
    if cls is None:
        cls = _lookup(config["class_name"], custom_objects)
    cfg = dict(config.get("config", {}))
    if custom_objects:
        from fastff import activations

        act = cfg.get("activation")
        if isinstance(act, dict) or (isinstance(act, str) and act in custom_objects):
            cfg["activation"] = activations.deserialize(act, custom_objects)
    return cls.from_config(cfg)


_auto_config.register_layers(Layer, serialize, deserialize)  # layer arguments of user classes
