"""Fixtures shared by the C-core tests: every supported kernel set, and the thread count."""

from __future__ import annotations

import os
import sys

import pytest

from fastff import _core

ffi, lib = _core.ffi, _core.lib

#: the kernel sets this CPU supports (ref always; avx2 / avx512 where present)
KERNELS = [n for n in ffi.string(lib.fastff_kernel_names()).decode().split()
           if lib.fastff_kernel_supported(n.encode())]




def pytest_configure(config):
    """In the CUDA simulator's process, a 0.5 ms GIL switch interval instead of 5 ms: the
    simulator polls a block's Python threads from the launching one, which otherwise spins
    through whole slices while they wait (tests/_cudasim.py)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.setswitchinterval(0.0005)


@pytest.fixture(params=KERNELS)
def kernel(request):
    """Run the test once per supported kernel set, restoring the active one afterwards."""
    before = ffi.string(lib.fastff_kernel_name())
    assert lib.fastff_set_kernel(request.param.encode()) == 0
    yield request.param
    lib.fastff_set_kernel(before)


@pytest.fixture
def threads():
    """Set the C core's thread count for one test, restoring it afterwards. The adaptive
    policy (which may run a call on one thread) is off meanwhile, so the count set is the
    count used."""
    before = lib.fastff_get_num_threads()
    adaptive = lib.fastff_get_adaptive_threads()
    lib.fastff_set_adaptive_threads(0)

    def set_(n: int) -> None:
        assert lib.fastff_set_num_threads(n) == 0

    yield set_
    lib.fastff_set_num_threads(before)
    lib.fastff_set_adaptive_threads(adaptive)
