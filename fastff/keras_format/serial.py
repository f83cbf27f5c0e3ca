"""fastff objects as Keras 3 serializes them: the ``module``/``class_name``/``config``
wrapper, dtype policies, activations, initializers, regularizers and constraints."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.keras_format.layout import ACTIVATIONS, KERAS_ALIASES


def keras_obj(module: str, class_name: str, config: Any) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


def policy(dtype: np.dtype) -> dict:
    return keras_obj("keras", "DTypePolicy", {"name": np.dtype(dtype).name})


def keras_activation(layer: Any) -> str:
    act = layer.activation
    if not act.builtin or act.name not in ACTIVATIONS:
        raise ValueError(f"save_keras: layer {layer.name!r} uses the activation {act.name!r}, "
                         "which has no Keras 3 name")
    from fastff import activations

    if act.name == "glu":
        raise ValueError(f"save_keras: layer {layer.name!r} uses 'glu', which Keras 3.15 "
                         "cannot rebuild: its layers report the input width as glu's output "
                         "shape, so a layer after it is built for twice its real input")
    if activations.serialize(act) != act.name:  # a non-default parameter
        raise ValueError(f"save_keras: layer {layer.name!r}: {act!r} has a non-default "
                         "parameter, which a Keras activation name cannot hold")
    return KERAS_ALIASES.get(act.name, act.name)


def keras_init(init: Any) -> dict:
    from fastff import initializers

    spec = initializers.serialize(init)
    return keras_obj("keras.initializers", spec["class_name"], spec["config"])


def keras_reg(reg: Any) -> dict | None:
    from fastff import regularizers

    spec = regularizers.serialize(reg)
    return None if spec is None else keras_obj("keras.regularizers", spec["class_name"],
                                                spec["config"])


def keras_constraint(constraint: Any) -> dict | None:
    """A fastff constraint as Keras serializes it (the same classes and configs)."""
    from fastff import constraints

    try:
        return constraints.serialize(constraint)
    except ValueError as e:
        raise ValueError(f"save_keras: {e}") from None
