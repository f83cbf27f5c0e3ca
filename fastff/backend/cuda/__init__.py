"""The CUDA backend: ``CudaOps`` over ``numba.cuda`` kernels.

Importing this package is free: nothing CUDA-related is imported until ``make_ops()``,
``is_available()`` or ``device_info()`` is called, so ``import fastff`` works where neither
``numba-cuda`` nor a driver exists. Every ``numba.cuda`` import goes through ``_cuda.py``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["is_available", "make_ops", "device_info", "device_summary", "auto_device",
           "require_device", "register"]

_AVAILABLE: dict[bool, bool] = {}


def _simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def is_available(allow_simulator: bool = False) -> bool:
    """True when a real, usable CUDA GPU is present (never raises).

    Usable means: ``numba-cuda`` imports, a driver and a device are found, and a one-element
    allocation succeeds. The simulator counts only with ``allow_simulator=True``.
    """
    key = bool(allow_simulator)
    if key in _AVAILABLE:
        return _AVAILABLE[key]
    ok = False
    try:
        if _simulator_requested():
            ok = key
            if ok:
                from fastff.backend.cuda._cuda import SIMULATOR

                ok = SIMULATOR
        else:
            from fastff.backend.cuda._cuda import cuda

            if cuda.is_available():
                cuda.device_array(1, dtype="float32")
                ok = True
    except Exception:  # noqa: BLE001 - availability probe, never fatal
        ok = False
    _AVAILABLE[key] = ok
    return ok


def make_ops(**kwargs: Any) -> Any:
    """A new ``CudaOps`` (raises ImportError/RuntimeError when CUDA cannot be used)."""
    from fastff.backend.cuda.ops import CudaOps

    return CudaOps(**kwargs)


def device_info() -> dict[str, Any]:
    """Facts about the current GPU for ``fastff info`` (never raises).

    Keys: ``available`` (bool), and when available ``name``, ``compute_capability``,
    ``multiprocessors``, ``memory_total``/``memory_free`` (bytes), ``driver`` and ``runtime``
    (CUDA versions), ``numba_cuda`` (package version); ``reason`` when not available.
    """
    info: dict[str, Any] = {"available": False}
    try:
        from fastff.backend.cuda import _cuda
    except Exception as exc:  # noqa: BLE001
        info["reason"] = f"numba-cuda not importable ({exc.__class__.__name__}: {exc})"
        return info
    try:
        from importlib.metadata import version

        info["numba_cuda"] = version("numba-cuda")
    except Exception:  # noqa: BLE001
        pass
    if _cuda.SIMULATOR:
        info.update(available=True, name="CUDA simulator", simulator=True)
        return info
    if not is_available():
        info["reason"] = "no usable CUDA driver or device"
        return info
    cuda = _cuda.cuda
    try:
        dev = cuda.get_current_device()
        info["available"] = True
        info["name"] = _cuda.device_name()
        info["compute_capability"] = ".".join(map(str, dev.compute_capability))
        info["multiprocessors"] = int(dev.MULTIPROCESSOR_COUNT)
        free, total = cuda.current_context().get_memory_info()
        info["memory_total"] = int(total)
        info["memory_free"] = int(free)
    except Exception as exc:  # noqa: BLE001
        info["reason"] = f"device query failed ({exc.__class__.__name__}: {exc})"
    for key, probe in (("driver", "get_version"), ("runtime", "get_version")):
        try:
            mod = cuda.cudadrv.driver.driver if key == "driver" else cuda.runtime
            ver = getattr(mod, probe)()
            info[key] = ".".join(map(str, ver)) if isinstance(ver, tuple) else str(ver)
        except Exception:  # noqa: BLE001
            pass
    return info


def auto_device() -> str:
    """``"cuda"`` when a real GPU is usable, else ``"cpu"`` (what ``set_device("auto")`` picks;
    never the simulator)."""
    return "cuda" if is_available() else "cpu"


def require_device() -> str:
    """``"cuda"``, or RuntimeError saying why the CUDA device cannot be used.

    The simulator counts when it was asked for (``NUMBA_ENABLE_CUDASIM=1``)."""
    if is_available(allow_simulator=True):
        return "cuda"
    reason = device_info().get("reason", "unknown reason")
    raise RuntimeError(f"CUDA device not usable: {reason}. Install the extra with "
                       "pip install 'fastff[cuda]' and check `python -m fastff info`.")


def device_summary() -> str:
    """One line for ``fastff info``: the GPU, its memory, driver and runtime, or why not."""
    try:
        d = device_info()
    except Exception as exc:  # noqa: BLE001 - reporting, never failing
        return f"not usable ({exc.__class__.__name__}: {exc})"
    if not d.get("available"):
        return f"not usable ({d.get('reason', 'unknown reason')})"
    if d.get("simulator"):
        return f"CUDA simulator (numba-cuda {d.get('numba_cuda', '?')})"
    parts = [str(d.get("name", "GPU"))]
    if "compute_capability" in d:
        parts.append(f"compute {d['compute_capability']}")
    if "memory_total" in d:
        gib = 1 << 30
        parts.append(f"{d['memory_total'] / gib:.1f} GiB ({d.get('memory_free', 0) / gib:.1f} "
                     "GiB free)")
    for key in ("driver", "runtime", "numba_cuda"):
        if key in d:
            parts.append(f"{key.replace('_', '-')} {d[key]}")
    return ", ".join(parts)
