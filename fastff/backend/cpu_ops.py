"""CpuOps: Numba kernels over the C GEMM core (overrides land family by family)."""

from __future__ import annotations

from fastff.backend.numpy_ops import NumpyOps


class CpuOps(NumpyOps):
    """The default CPU backend; methods not overridden here fall back to NumpyOps."""

    name = "cpu"
