"""fastff: fast feedforward neural networks with a Keras-like API.

Submodules load on first use (PEP 562), so ``import fastff`` stays cheap and
does not import Numba until a kernel is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Sequential": ("fastff.models", "Sequential"),
    "Model": ("fastff.functional", "BaseModel"),
    "Input": ("fastff.layers", "Input"),
    # Keras 3's top-level base classes (``class MyLayer(keras.Layer)``)
    "Layer": ("fastff.layers", "Layer"),
    "Loss": ("fastff.losses", "Loss"),
    "Metric": ("fastff.metrics", "Metric"),
    "Optimizer": ("fastff.optimizers", "Optimizer"),
    "set_num_threads": ("fastff._threading", "set_num_threads"),
    "get_num_threads": ("fastff._threading", "get_num_threads"),
    "info": ("fastff.info", "info"),
    "set_device": ("fastff.backend", "set_device"),
    "get_device": ("fastff.backend", "get_device"),
}
_SUBMODULES = (
    "activations", "backend", "callbacks", "config", "constraints", "data", "datasets",
    "distribution",
    "errors",
    "export", "functional", "initializers",
    "layers", "linalg", "losses", "metrics", "models", "ops", "optimizers", "random",
    "regularizers", "saving", "subclassed",
    "testing", "utils",
    "wrappers",  # imports scikit-learn, so only on first use
)


def version() -> str:
    """fastff's version (Keras's ``keras.version()``)."""
    return __version__


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"fastff.{name}")
    else:
        raise AttributeError(f"module 'fastff' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


# ``from fastff import *`` must not need scikit-learn: wrappers stays out of the star-import
__all__ = ["__version__", *_LAZY, *(m for m in _SUBMODULES if m != "wrappers")]
