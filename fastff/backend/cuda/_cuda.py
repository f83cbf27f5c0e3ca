"""The one place fastff imports ``numba.cuda`` from.

``numba.cuda`` lives in the ``numba-cuda`` package today (``pip install fastff[cuda]``); its
maintainers have announced a successor package. Every kernel module imports ``cuda`` from
here, so a move of the API is a change to this file only. Importing this module needs the
package but not a driver: under ``NUMBA_ENABLE_CUDASIM=1`` it gives the simulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import config as _numba_config
from numba import cuda

__all__ = ["cuda", "SIMULATOR", "is_device_array", "sm_count", "device_name"]

SIMULATOR = bool(getattr(_numba_config, "ENABLE_CUDASIM", 0))


def is_device_array(x: Any) -> bool:
    """True for a numba device array (real or simulated), False for host arrays."""
    return not isinstance(x, np.ndarray) and hasattr(x, "copy_to_host")


def sm_count() -> int:
    """Streaming multiprocessors of the current device (0 on the simulator)."""
    if SIMULATOR:
        return 0
    try:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:  # noqa: BLE001 - a heuristic input, never fatal
        return 80


def device_name() -> str:
    """Name of the current device ("simulator" under the simulator)."""
    if SIMULATOR:
        return "CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)
