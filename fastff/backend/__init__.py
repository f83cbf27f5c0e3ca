"""Backends: the ``Ops`` objects that run fastff's kernels.

``get_ops()`` returns the process-wide default (``CpuOps``: Numba kernels over the C GEMM);
``get_ops("numpy")`` the plain-NumPy reference. Backends are built lazily on first use, so
``import fastff.backend`` does not import Numba.

Devices map a user-facing name (``set_device("cpu")``, ``"cuda"``, ``"auto"``) to the Ops
backend that serves it; ``"cuda"`` builds ``fastff.backend.cuda``'s ``CudaOps`` on first use.
Another backend plugs in with ``register_ops(name, factory)`` and
``register_device(name, ops_name)`` without touching this module's callers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastff import config
from fastff._suggest import did_you_mean

__all__ = [
    "floatx", "set_floatx", "epsilon", "image_data_format", "backend", "clear_session",
    "get_ops", "set_ops", "register_ops", "available_ops",
    "get_device", "set_device", "register_device", "available_devices", "resolve_device",
]

# Keras 3's ``keras.backend`` helpers, for scripts that use ``import fastff as keras``
floatx = config.floatx
set_floatx = config.set_floatx
epsilon = config.epsilon
clear_session = config.clear_session
image_data_format = config.image_data_format
backend = config.backend


_lock = threading.Lock()


def _make_numpy() -> Any:
    from fastff.backend.numpy_ops import NumpyOps

    return NumpyOps()


def _make_cpu() -> Any:
    from fastff.backend.cpu_ops import CpuOps

    return CpuOps()


def _make_cuda() -> Any:
    from fastff.backend.cuda import make_ops

    return make_ops()


def _cuda_device() -> str:
    """``"cuda"``, or RuntimeError saying why no GPU can be used."""
    from fastff.backend.cuda import require_device

    return require_device()


def _auto_device() -> str:
    """``"cuda"`` only where a real GPU is usable, else ``"cpu"``."""
    from fastff.backend.cuda import auto_device

    return auto_device()


# ops name -> zero-argument factory returning an Ops instance (called once, then cached)
_OPS_FACTORIES: dict[str, Callable[[], Any]] = {
    "numpy": _make_numpy, "cpu": _make_cpu, "cuda": _make_cuda,
}
_OPS_INSTANCES: dict[str, Any] = {}
# device name -> ops name, or a zero-argument callable resolving to one (e.g. "auto")
_DEVICES: dict[str, str | Callable[[], str]] = {
    "cpu": "cpu", "cuda": _cuda_device, "auto": _auto_device,
}
_state = {"ops": "cpu", "device": "cpu"}


def _unknown(kind: str, name: str, known: list[str]) -> ValueError:
    hint = did_you_mean(name, known)
    return ValueError(f"Unknown {kind} {name!r}; available: {', '.join(sorted(known))}.{hint}")


def register_ops(name: str, factory: Callable[[], Any]) -> None:
    """Register (or replace) a backend factory under ``name``."""
    with _lock:
        _OPS_FACTORIES[name] = factory
        _OPS_INSTANCES.pop(name, None)


def available_ops() -> list[str]:
    """Names accepted by ``get_ops`` / ``set_ops``."""
    return sorted(_OPS_FACTORIES)


def get_ops(name: str | None = None) -> Any:
    """The named Ops instance, or the process-wide default when ``name`` is None."""
    key = _state["ops"] if name is None else str(name).lower()
    ops = _OPS_INSTANCES.get(key)
    if ops is not None:
        return ops
    if key not in _OPS_FACTORIES:
        raise _unknown("ops backend", key, list(_OPS_FACTORIES))
    with _lock:
        ops = _OPS_INSTANCES.get(key)
        if ops is None:
            ops = _OPS_FACTORIES[key]()
            _OPS_INSTANCES[key] = ops
    return ops


def set_ops(name: str) -> None:
    """Make ``name`` (``"cpu"`` or ``"numpy"``) the default backend of ``get_ops()``."""
    key = str(name).lower()
    if key not in _OPS_FACTORIES:
        raise _unknown("ops backend", key, list(_OPS_FACTORIES))
    _state["ops"] = key


def register_device(name: str, ops_name: str | Callable[[], str]) -> None:
    """Map device ``name`` to an ops backend name (or a callable choosing one lazily)."""
    with _lock:
        _DEVICES[str(name).lower()] = ops_name


def available_devices() -> list[str]:
    """Device names accepted by ``set_device``."""
    return sorted(_DEVICES)


def set_device(name: str = "auto") -> str:
    """Select the device that new models use; returns the resolved device name.

    ``"auto"`` picks a usable CUDA GPU when there is one, else the CPU.
    """
    key = str(name).lower()
    ops_name = resolve_device(key)
    _state["ops"] = ops_name
    _state["device"] = key if key != "auto" else ops_name
    return _state["device"]


def resolve_device(name: str) -> str:
    """The ops backend name that device ``name`` runs on (``"auto"`` decided now); ValueError
    for an unknown device, RuntimeError (from the backend) when it is not usable here."""
    key = str(name).lower()
    if key not in _DEVICES:
        raise _unknown("device", key, list(_DEVICES))
    target = _DEVICES[key]
    ops_name = target() if callable(target) else target
    if ops_name not in _OPS_FACTORIES:
        raise ValueError(f"Device {key!r} needs the {ops_name!r} backend, which is not available")
    return ops_name


def get_device() -> str:
    """Name of the current device (``"cpu"`` by default)."""
    return _state["device"]
