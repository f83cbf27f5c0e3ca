"""Numba kernels of CpuOps, one module per family.

Every kernel is ``@njit(cache=True, nogil=True)`` with lazy (first-call) typing, so only the
dtypes a program uses are compiled. Elementwise kernels work on flat C-contiguous arrays over
an index range ``[lo, hi)``; above ``PAR_MIN`` elements ``parallel.run`` splits the range over
fastff's threads at ``CHUNK`` boundaries, so every element is computed by the same code
whatever the thread count. Reductions use a fixed partition, never a per-thread one.
"""

from __future__ import annotations

import os

from fastff.backend import spec

# Elements per parallel chunk, and the size below which kernels run on one thread: a
# vectorised elementwise kernel does ~1M elements in ~0.3 ms, and below that a fork/join plus
# the risk of waiting on a core another process holds (shared/PEERS.md) does not pay.
# FASTFF_PAR_MIN overrides the threshold (e.g. lower it on a dedicated many-core machine).
CHUNK = 16384
PAR_MIN = int(os.environ.get("FASTFF_PAR_MIN", 1 << 20))

# error_model="numpy": float division by zero gives inf/nan like NumPy instead of a Python
# ZeroDivisionError check in every iteration, which would stop LLVM vectorising the loops
# (measured 8x on the Adam step).
NJIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
# Small helpers called only from other kernels: inlined into the caller's IR before typing,
# so they cost no compilation (and no linked module) of their own on a first call.
NJIT_INLINE = {**NJIT, "inline": "always"}

# Elementwise activation codes shared by the forward and backward kernels (backend/spec.py).
ACT_CODES = spec.codes()


def _defer_scipy_blas_probe() -> None:
    """Skip Numba's eager SciPy import on its first compile (or cache load).

    ``numba.np.arraymath`` calls ``ensure_blas()`` at import only to set a flag, which imports
    ``scipy.linalg`` (~0.6 s of every process's first ``fit`` when SciPy is installed).
    fastff's kernels use no Numba BLAS (GEMMs go through the C core), so the module is
    imported with the probe stubbed; the real ``ensure_blas`` is restored at once and still
    guards every BLAS-backed function (``np.dot`` in user njit code imports SciPy on first
    compile, as before).
    """
    import sys

    if "numba.np.arraymath" in sys.modules:
        return
    try:
        import numba.np.linalg as nb_linalg
    except ImportError:  # pragma: no cover - layout of a future Numba
        return
    real = nb_linalg.ensure_blas
    nb_linalg.ensure_blas = lambda: None
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        nb_linalg.ensure_blas = real


_defer_scipy_blas_probe()
