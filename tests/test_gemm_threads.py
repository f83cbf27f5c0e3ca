"""The C core's worker pool and adaptive thread plan: the same bits for every thread count,
both threading back ends and the adaptive policy; fork and concurrent callers are safe."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from fastff import _core, _threading, linalg

ffi, lib = _core.ffi, _core.lib

BACKENDS = [lib.FASTFF_THREADING_POOL] + (
    [lib.FASTFF_THREADING_OPENMP] if lib.fastff_has_openmp() else [])

# (m, n, k, trans_a, trans_b), each above the 10 MFLOP parallel threshold: packed path in
# every flag combination, small-M (columns split), small-N column form (rows split)
SHAPES = [(128, 256, 784, False, False), (784, 256, 128, True, False),
          (128, 784, 256, False, True), (131, 203, 257, True, True), (2, 6000, 900, False, False),
          (2000, 10, 300, False, False), (3000, 13, 300, True, False)]


def _operands(rng, m, n, k, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b, rng.standard_normal(n).astype(dtype), rng.standard_normal((m, n)).astype(dtype)


@pytest.fixture
def pool_state():
    """Restore thread count, back end and adaptive policy after the test."""
    saved = (lib.fastff_get_num_threads(), lib.fastff_get_threading(),
             lib.fastff_get_adaptive_threads())
    yield
    lib.fastff_set_num_threads(saved[0])
    lib.fastff_set_threading(saved[1])
    lib.fastff_set_adaptive_threads(saved[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_for_any_thread_count_backend_and_policy(pool_state, dtype):
    rng = np.random.default_rng(11)
    for m, n, k, ta, tb in SHAPES:
        a, b, bias, c0 = _operands(rng, m, n, k, ta, tb, dtype)
        ref = None
        for backend in BACKENDS:
            assert lib.fastff_set_threading(backend) == 0
            for adaptive in (0, 1):
                assert lib.fastff_set_adaptive_threads(adaptive) == 0
                for nt in (1, 2, 3, 4):
                    assert lib.fastff_set_num_threads(nt) == 0
                    for _ in range(2 if adaptive else 1):  # adaptive: both arms get a call
                        out = c0.copy()
                        linalg.gemm(a, b, out=out, beta=0.5, trans_a=ta, trans_b=tb, bias=bias,
                                    activation="relu")
                        if ref is None:
                            ref = out
                        assert np.array_equal(ref.view(np.uint8), out.view(np.uint8)), (
                            f"{m}x{n}x{k} ta={ta} tb={tb}: backend {backend} adaptive "
                            f"{adaptive} {nt} threads")
        exp = np.maximum(0.5 * c0.astype(np.float64) + (a.T if ta else a).astype(np.float64)
                         @ (b.T if tb else b).astype(np.float64) + bias, 0)
        np.testing.assert_allclose(ref, exp, rtol=1e-3 if dtype == np.float32 else 1e-10,
                                   atol=1e-3 if dtype == np.float32 else 1e-10)


def test_sparse_same_bits_for_any_thread_count(pool_state):
    rng = np.random.default_rng(12)
    lib.fastff_set_adaptive_threads(0)
    for ta in (False, True):
        shape = (784, 256) if ta else (256, 784)
        a = (rng.standard_normal(shape) * (rng.random(shape) < 0.1)).astype(np.float32)
        b = rng.standard_normal((784, 300)).astype(np.float32)
        outs = []
        for nt in (1, 2, 3):
            lib.fastff_set_num_threads(nt)
            outs.append(linalg.gemm(a, b, trans_a=ta, sparse_a=True))
        dense = linalg.gemm(a, b, trans_a=ta)
        for out in outs:
            assert np.array_equal(out.view(np.uint8), dense.view(np.uint8))


# a backward step's pairs (dW = Xᵀ·dY on the sparse-A entry, dX = dY·Wᵀ), with small-N and
# small-path members, a sparse-path member (10% dense A) and a call too small to split
BATCHES = [[(256, 256, 128, True, False, 0.5), (128, 256, 256, False, True, 1.0)],
           [(784, 256, 128, True, False, 0.1), (128, 784, 256, False, True, 1.0),
            (2000, 10, 300, False, False, 1.0)],
           [(256, 10, 128, True, False, 0.5), (128, 256, 10, False, True, 1.0),
            (2, 6000, 900, False, False, 1.0), (131, 203, 257, True, True, 1.0)]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_batch_gives_the_bits_of_single_calls(pool_state, dtype, batch):
    """GEMMs recorded between fastff_batch_begin/_end and run as one parallel call give the
    bits of the same calls made one by one on one thread, for any thread count and policy."""
    rng = np.random.default_rng(14 + batch)
    calls = []
    for m, n, k, ta, tb, density in BATCHES[batch]:
        a, b, bias, c0 = _operands(rng, m, n, k, ta, tb, dtype)
        a = (a * (rng.random(a.shape) < density)).astype(dtype)
        calls.append((a, b, bias, c0, ta, tb, density < 1))
    lib.fastff_set_num_threads(1)
    ref = [linalg.gemm(a, b, out=c0.copy(), beta=0.5, trans_a=ta, trans_b=tb, bias=bias,
                       activation="relu", sparse_a=sp) for a, b, bias, c0, ta, tb, sp in calls]
    for adaptive in (0, 1):
        lib.fastff_set_adaptive_threads(adaptive)
        for nt in (1, 2, 3):
            lib.fastff_set_num_threads(nt)
            for _ in range(4 if adaptive else 1):  # adaptive: both arms get calls
                outs = [c0.copy() for _, _, _, c0, *_ in calls]
                assert lib.fastff_batch_begin() == 0
                for (a, b, bias, _, ta, tb, sp), out in zip(calls, outs):
                    linalg.gemm_into(a, b, out, ta, tb, 1.0, 0.5, bias,
                                     lib.FASTFF_ACT_RELU, 0.0, sp)
                assert lib.fastff_batch_end() == 0
                for i, (out, r) in enumerate(zip(outs, ref)):
                    assert np.array_equal(out.view(np.uint8), r.view(np.uint8)), (
                        f"batch {batch} call {i}: adaptive {adaptive}, {nt} threads")


def test_batch_defers_the_calls_and_reports_errors(pool_state):
    lib.fastff_set_num_threads(2)
    rng = np.random.default_rng(15)
    a, b, bias, c0 = _operands(rng, 128, 256, 784, False, False, np.float32)
    out = np.full_like(c0, 7.0)
    assert lib.fastff_batch_begin() == 0
    assert lib.fastff_batch_begin() == 0  # stays open
    linalg.gemm_into(a, b, out)
    assert (out == 7.0).all()  # recorded, not run
    # an argument error is returned at once and records nothing
    p = ffi.cast("float *", ffi.from_buffer(out))
    assert lib.fastff_sgemm(0, 0, 4, 4, 4, 1.0, p, 2, p, 4, 0.0, p, 4, ffi.NULL, 0,
                            0.0) == lib.FASTFF_ERR_LD
    assert lib.fastff_batch_end() == 0
    np.testing.assert_array_equal(out, linalg.gemm(a, b))
    assert lib.fastff_batch_end() == 0  # none open: nothing to run
    # more calls than a batch holds run at once, in order
    outs = [np.zeros_like(c0) for _ in range(6)]
    assert lib.fastff_batch_begin() == 0
    for o in outs:
        linalg.gemm_into(a, b, o)
    assert [bool(o.any()) for o in outs] == [False] * 4 + [True] * 2
    assert lib.fastff_batch_end() == 0
    assert all(np.array_equal(o, outs[-1]) for o in outs)


def test_batch_propagates_nan(pool_state):
    lib.fastff_set_num_threads(2)
    lib.fastff_set_adaptive_threads(0)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((128, 256)).astype(np.float32)
    g = rng.standard_normal((128, 256)).astype(np.float32)
    w = rng.standard_normal((256, 256)).astype(np.float32)
    x[5, 17] = np.nan
    w[3, 9] = np.inf
    dw, dx = np.empty((256, 256), np.float32), np.empty((128, 256), np.float32)
    assert lib.fastff_batch_begin() == 0
    linalg.gemm_into(x, g, dw, True, False, sparse_a=True)
    linalg.gemm_into(g, w, dx, False, True)
    assert lib.fastff_batch_end() == 0
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(linalg.gemm(x, g, trans_a=True)))
    assert np.isnan(dw[17]).all() and not np.isnan(np.delete(dw, 17, axis=0)).any()
    assert np.isinf(dx[:, 3]).all() or np.isnan(dx[:, 3]).all()
    np.testing.assert_array_equal(dx, linalg.gemm(g, w, trans_b=True))


def test_parallel_range_runs_pieces_under_the_callers_fp_environment(pool_state):
    """fastff_parallel_range (the compiled step's optimizer update) splits [0, n) at multiples
    of `align` over the pool, and every piece keeps the caller's MXCSR - subnormals are not
    flushed as in the GEMMs - so the result is the serial one for any thread count."""
    from numba import carray, cfunc, types

    @cfunc(types.void(types.CPointer(types.voidptr), types.CPointer(types.int64),
                      types.CPointer(types.float64), types.int64, types.int64))
    def halve(ptrs, sizes, scal, lo, hi):  # pragma: no cover - compiled
        x = carray(ptrs[0], sizes[0], np.float32)
        out = carray(ptrs[1], sizes[1], np.float32)
        for i in range(lo, hi):
            out[i] = x[i] * np.float32(scal[0]) + np.float32(i)

    n = 300_001
    x = np.full(n, 3e-39, np.float32)  # subnormal: DAZ would read it as zero
    expect = x * np.float32(0.5) + np.arange(n, dtype=np.float32)
    assert expect[0] != 0
    sizes = np.array([n, n], np.int64)
    scal = np.array([0.5])
    lib.fastff_set_adaptive_threads(0)
    for nt in (1, 2, 3):
        lib.fastff_set_num_threads(nt)
        out = np.full(n, np.nan, np.float32)
        ptrs = np.array([x.ctypes.data, out.ctypes.data], np.uintp)
        assert lib.fastff_parallel_range(
            ffi.cast("void *", halve.address), ffi.cast("void *const *", ptrs.ctypes.data),
            ffi.cast("int64_t *", sizes.ctypes.data), ffi.cast("double *", scal.ctypes.data),
            n, 1024) == 0
        assert np.array_equal(out.view(np.uint32), expect.view(np.uint32)), nt
    assert lib.fastff_parallel_range(ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 5,
                                     1) == lib.FASTFF_ERR_NULL
    assert lib.fastff_parallel_range(ffi.cast("void *", halve.address), ffi.NULL, ffi.NULL,
                                     ffi.NULL, 5, 0) == lib.FASTFF_ERR_DIM


def test_settings_validated(pool_state):
    assert lib.fastff_set_threading(7) == lib.FASTFF_ERR_THREADS
    assert lib.fastff_set_adaptive_threads(2) == lib.FASTFF_ERR_THREADS
    assert lib.fastff_get_threading() == lib.FASTFF_THREADING_POOL  # the default on Linux
    with pytest.raises(TypeError, match="on"):
        _threading.set_adaptive_threads(1)
    _threading.set_adaptive_threads(False)
    assert _threading.get_adaptive_threads() is False
    _threading.set_adaptive_threads(True)
    assert _threading.get_adaptive_threads() is True


def test_environment_selects_backend_and_policy():
    code = ("from fastff._core import lib; "
            "print(lib.fastff_get_threading(), lib.fastff_get_adaptive_threads())")
    env = {"FASTFF_THREADING": "openmp", "FASTFF_ADAPTIVE_THREADS": "0"}
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, **env}, timeout=120).stdout.split()
    assert out == [str(lib.FASTFF_THREADING_OPENMP if lib.fastff_has_openmp() else
                       lib.FASTFF_THREADING_POOL), "0"]


def test_concurrent_callers_get_their_own_results(pool_state):
    """Python threads calling at once: one uses the pool, the others run on their own thread;
    every result is the serial one."""
    lib.fastff_set_num_threads(2)
    lib.fastff_set_adaptive_threads(0)
    rng = np.random.default_rng(13)
    jobs = [_operands(rng, 128, 256, 300 + 7 * i, False, False, np.float32) for i in range(4)]
    expected = [linalg.gemm(a, b, bias=bias) for a, b, bias, _ in jobs]
    errors: list[str] = []

    def work(i: int) -> None:
        a, b, bias, _ = jobs[i]
        for _ in range(30):
            if not np.array_equal(linalg.gemm(a, b, bias=bias), expected[i]):
                errors.append(f"job {i}")
                return

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_fork_child_starts_a_fresh_pool():
    """A child forked while the pool has workers must not wait for workers it lacks."""
    code = """
import os, numpy as np
from fastff._core import lib
from fastff import linalg
lib.fastff_set_num_threads(2); lib.fastff_set_adaptive_threads(0)
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 512)).astype(np.float32)
b = rng.standard_normal((512, 256)).astype(np.float32)
ref = linalg.gemm(a, b)
pid = os.fork()
if pid == 0:
    ok = all(np.array_equal(linalg.gemm(a, b), ref) for _ in range(5))
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["0"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_block_signals_so_sigint_reaches_python(backend):
    """Worker threads start with every signal blocked (the caller's mask is kept), so Ctrl-C
    is delivered to the main thread: a SIGINT sent to the process while workers exist raises
    KeyboardInterrupt there (the threads checked are those the GEMM started)."""
    code = f"""
import os, signal, time, numpy as np
from fastff._core import lib
from fastff import linalg
lib.fastff_set_threading({backend}); lib.fastff_set_num_threads(2)
lib.fastff_set_adaptive_threads(0)
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 512)).astype(np.float32)
b = rng.standard_normal((512, 256)).astype(np.float32)
before = set(os.listdir("/proc/self/task"))  # numpy's BLAS threads, say: not ours
linalg.gemm(a, b)
def blocked(tid):
    with open(f"/proc/self/task/{{tid}}/status") as fh:
        line = next(x for x in fh if x.startswith("SigBlk:"))
    return int(line.split()[1], 16)
main = blocked(os.getpid())
others = [blocked(t) for t in set(os.listdir("/proc/self/task")) - before]
sigint = 1 << (signal.SIGINT - 1)
print(len(others) >= 1, not main & sigint, all(m & sigint for m in others))
try:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100):
        linalg.gemm(a, b)
        time.sleep(0.001)
    print("no interrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["True", "True", "True", "KeyboardInterrupt"]
