"""The C core from inside Numba @njit(cache=True) code, including a cache hit in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from fastff import _native  # noqa: E402


@numba.njit(cache=True)
def _dense(x, w, bias, out):
    return _native.gemm_into_nb(x, w, out, False, False, 1.0, 0.0, bias, 1, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_njit_calls_core(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((33, 20)).astype(dtype)
    w = rng.standard_normal((20, 17)).astype(dtype)
    bias = rng.standard_normal(17).astype(dtype)
    out = np.empty((33, 17), dtype)
    assert _dense(x, w, bias, out) == 0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, np.maximum(x.astype(np.float64) @ w + bias, 0),
                               rtol=tol, atol=tol)


def test_njit_trans_none_bias_and_shape_errors():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20, 8))
    b = rng.standard_normal((5, 20))
    out = np.empty((8, 5))
    assert _native.gemm_into_nb(a, b, out, True, True, 2.0, 0.0, None, 0, 0.0) == 0
    np.testing.assert_allclose(out, 2 * a.T @ b.T, rtol=1e-12)
    assert _native.gemm_into_nb(a, b, out, False, True, 1.0, 0.0, None, 0, 0.0) == \
        _native.ERR_SHAPE
    wide = rng.standard_normal((20, 12))
    view = wide[:, ::2]  # element-strided: refused, not misread
    assert _native.gemm_into_nb(a, view, np.empty((8, 6)), True, False, 1.0, 0.0, None, 0,
                                0.0) == _native.ERR_SHAPE
    rows = wide[:, :6]  # row-strided: fine through ldb
    o2 = np.empty((8, 6))
    assert _native.gemm_into_nb(a, rows, o2, True, False, 1.0, 0.0, None, 0, 0.0) == 0
    np.testing.assert_allclose(o2, a.T @ rows, rtol=1e-12)


SCRIPT = textwrap.dedent("""
    import numpy as np, numba
    from fastff import _native

    @numba.njit(cache=True)
    def f(a, b, out):
        return _native.sgemm(0, 0, a.shape[0], b.shape[1], a.shape[1], 1.0, a.ctypes.data,
                             a.shape[1], b.ctypes.data, b.shape[1], 0.0, out.ctypes.data,
                             out.shape[1], 0, 0, 0.0)

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = np.zeros((2, 4), np.float32)
    assert f(a, b, out) == 0
    assert np.array_equal(out, a @ b), out
    print(sum(f.stats.cache_hits.values()))
""")


def test_cache_works_across_processes(tmp_path):
    script = tmp_path / "use_native.py"
    script.write_text(SCRIPT)
    env_cmd = [sys.executable, str(script)]
    first = subprocess.run(env_cmd, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(env_cmd, capture_output=True, text=True, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.split()[-1]) >= 1, "second process did not load from the cache"


def test_import_fastff_does_not_import_numba():
    code = "import sys, fastff, fastff.linalg; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
