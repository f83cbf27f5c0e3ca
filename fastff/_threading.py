"""One thread-count setting for the C core (its worker pool) and Numba together.

The default is the number of CPUs this process may run on (``os.sched_getaffinity``), which is
also Numba's default, so nothing needs applying until :func:`set_num_threads` is called.
Importing this module changes no global state. Modules that use Numba ``prange`` call
:func:`apply_to_numba` at import so a setting made before Numba was imported reaches it.
Note: Numba's setting is per calling thread, the C core's is process-wide.

The C core may run a GEMM on fewer threads than set: calls too small to split run serially,
and by default (:func:`set_adaptive_threads`) a call shape whose measured times say the
extra threads do not pay (another process holding a core, for instance) runs on one.
Results are bitwise the same either way.
"""

from __future__ import annotations

import numbers
import os
import sys

__all__ = ["set_num_threads", "get_num_threads", "apply_to_numba", "default_num_threads",
           "set_adaptive_threads", "get_adaptive_threads"]

_requested: int | None = None


def default_num_threads() -> int:
    """CPUs this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _numba_cap() -> int:
    """Numba's pool size (NUMBA_NUM_THREADS), without importing Numba when it is not loaded."""
    if "numba" in sys.modules:
        from numba import config

        return int(config.NUMBA_NUM_THREADS)
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return default_num_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the C GEMM core and in Numba parallel kernels.

    ``n`` must be a positive int no larger than Numba's pool size (``NUMBA_NUM_THREADS``,
    fixed when Numba starts; by default the CPUs this process may use).
    """
    global _requested
    if isinstance(n, (bool, _np_bool())) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a positive int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cap = _numba_cap()
    if n > cap:
        raise ValueError(
            f"n={n} exceeds the {cap} threads Numba may use (NUMBA_NUM_THREADS); set the "
            "NUMBA_NUM_THREADS environment variable before starting Python to allow more")
    from fastff._core import lib

    rc = lib.fastff_set_num_threads(n)
    if rc != 0:
        raise ValueError(f"n={n} is out of the C core's range 1..{lib.fastff_max_threads()}")
    _requested = n
    if "numba" in sys.modules:
        apply_to_numba()


def get_num_threads() -> int:
    """Threads the C core (and, once applied, Numba) uses."""
    from fastff._core import lib

    return int(lib.fastff_get_num_threads())


def set_adaptive_threads(on: bool) -> None:
    """Let the C core choose one thread per call shape when more measure slower (default
    on; ``FASTFF_ADAPTIVE_THREADS=0`` in the environment turns it off at start). Off: every
    call large enough to split uses the set thread count."""
    if not isinstance(on, (bool, _np_bool())):
        raise TypeError(f"on must be a bool, got {type(on).__name__}")
    from fastff._core import lib

    lib.fastff_set_adaptive_threads(1 if on else 0)


def get_adaptive_threads() -> bool:
    """Whether the C core's adaptive thread policy is on."""
    from fastff._core import lib

    return bool(lib.fastff_get_adaptive_threads())


def apply_to_numba() -> None:
    """Push an explicit :func:`set_num_threads` setting into Numba (no-op otherwise)."""
    if _requested is None:
        return
    import numba

    numba.set_num_threads(min(_requested, int(numba.config.NUMBA_NUM_THREADS)))


def _np_bool() -> type:
    """numpy.bool_ when NumPy is loaded (a bool is not a thread count), else bool."""
    np = sys.modules.get("numpy")
    return np.bool_ if np is not None else bool
