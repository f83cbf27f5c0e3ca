"""The new layers compute on host (NumPy) arrays: a clear error on a device model."""

from __future__ import annotations

from typing import Any

from fastff.layers.base import is_device_array


def require_host(x: Any, layer: Any) -> None:
    """Raise when ``x`` (or any array of a list) lives on an accelerator."""
    items = x if isinstance(x, (list, tuple)) else (x,)
    if any(is_device_array(a) for a in items):
        raise NotImplementedError(f"{type(layer).__name__} {layer.name!r} runs on the CPU only; "
                                  "build the model with device='cpu'")
