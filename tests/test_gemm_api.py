"""fastff.linalg argument checking, memory layouts, aliasing, and the C core's own checks."""

from __future__ import annotations

import numpy as np
import pytest

from fastff import _core, linalg

ffi, lib = _core.ffi, _core.lib


def _ab(dtype=np.float32, m=5, k=4, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(dtype),
            rng.standard_normal((k, n)).astype(dtype))


def _close(x, y, dtype):
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_fortran_strided_negative_unaligned(dtype):
    rng = np.random.default_rng(1)
    big_a = rng.standard_normal((20, 18)).astype(dtype)
    big_b = rng.standard_normal((18, 22)).astype(dtype)
    variants_a = [big_a[:7, :5], np.asfortranarray(big_a[:7, :5]), big_a[::2, :5][:7],
                  big_a[:7, ::3][:, :5], big_a[:7, :5][::-1], big_a[:5, :7].T,
                  big_a[:7, :5][:, ::-1], np.broadcast_to(big_a[0, :5], (7, 5))]
    variants_b = [big_b[:5, :6], np.asfortranarray(big_b[:5, :6]), big_b[::3, :6][:5],
                  big_b[:6, :5].T, big_b[:5, ::2][:, :6]]
    for a in variants_a:
        for b in variants_b:
            _close(linalg.gemm(a, b), np.asarray(a, np.float64) @ b, dtype)
            _close(linalg.gemm(a.T, b, trans_a=True), np.asarray(a, np.float64) @ b, dtype)
            _close(linalg.gemm(a, b.T, trans_b=True), np.asarray(a, np.float64) @ b, dtype)
    # unaligned data: the checked path copies it
    raw = np.zeros(7 * 5 * np.dtype(dtype).itemsize + 1, np.uint8)
    un = np.frombuffer(raw.data, dtype=dtype, count=35, offset=1).reshape(7, 5)
    assert not un.flags.aligned
    b = big_b[:5, :6].copy()
    _close(linalg.gemm(un, b), un.astype(np.float64) @ b, dtype)
    _close(linalg.gemm(b.T.copy(), un.T, trans_b=False), (un.astype(np.float64) @ b).T, dtype)
    raw_bias = np.zeros(6 * np.dtype(dtype).itemsize + 1, np.uint8)
    ub = np.frombuffer(raw_bias.data, dtype=dtype, count=6, offset=1)
    _close(linalg.gemm(un, b, bias=ub), un.astype(np.float64) @ b + ub, dtype)


def test_lists_and_scalars_accepted():
    out = linalg.gemm([[1.0, 2.0]], [[3.0], [4.0]], alpha=2, bias=np.array([1.0]))
    assert out.dtype == np.float64 and out.tolist() == [[23.0]]


def test_beta_zero_ignores_nan_in_out():
    a, b = _ab()
    out = np.full((5, 3), np.nan, np.float32)
    linalg.gemm(a, b, out=out)
    assert np.isfinite(out).all()


def test_beta_accumulates():
    a, b = _ab(np.float64)
    out = np.ones((5, 3))
    linalg.gemm(a, b, out=out, beta=2.0, alpha=-1.0)
    _close(out, 2.0 - a @ b, np.float64)


def test_k_zero_and_empty():
    a = np.zeros((3, 0), np.float32)
    b = np.zeros((0, 4), np.float32)
    out = np.ones((3, 4), np.float32)
    linalg.gemm(a, b, out=out, beta=0.5, bias=np.full(4, 1.0, np.float32), activation="relu")
    assert (out == 1.5).all()
    assert linalg.gemm(np.zeros((0, 3)), np.zeros((3, 2))).shape == (0, 2)
    assert linalg.gemm(np.zeros((2, 3)), np.zeros((3, 0))).shape == (2, 0)


def test_alpha_zero_skips_product():
    a = np.full((2, 2), np.inf)
    out = np.ones((2, 2))
    linalg.gemm(a, a, out=out, alpha=0.0, beta=3.0)
    assert (out == 3.0).all()


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(a=np.ones((2, 3), np.int64)), TypeError, "a must have dtype"),
        (dict(b=np.ones((3, 2), np.float64)), TypeError, "b has dtype float64"),
        (dict(a=np.ones((2, 3), ">f4")), TypeError, "native byte order"),
        (dict(a=np.ones(3, np.float32)), ValueError, "a must be a 2-D"),
        (dict(b=np.ones((4, 2), np.float32)), ValueError, "inner dimensions"),
        (dict(out=np.ones((2, 3), np.float32)), ValueError, "out must have shape (2, 2)"),
        (dict(out=np.ones((2, 2), np.float64)), TypeError, "out must have dtype float32"),
        (dict(out=np.ones((2, 4), np.float32)[:, :2]), ValueError, "C-contiguous"),
        (dict(out=np.ones((2, 2), np.float32).T.copy(order="F")), ValueError, "C-contiguous"),
        (dict(out=[[0.0, 0.0]]), TypeError, "out must be a numpy.ndarray"),
        (dict(beta=1.0), ValueError, "beta != 0 needs out"),
        (dict(alpha="2"), TypeError, "alpha must be a real number"),
        (dict(beta=None), TypeError, "beta must be a real number"),
        (dict(trans_a=2), TypeError, "trans_a must be a bool"),
        (dict(bias=np.ones(3, np.float32)), ValueError, "bias must have shape (2,)"),
        (dict(bias=np.ones(2, np.float64)), TypeError, "bias must have dtype float32"),
        (dict(activation="swish"), ValueError, "activation must be None or one of"),
        (dict(activation="leaky_relu", negative_slope="x"), TypeError, "negative_slope"),
        (dict(activation="elu", elu_alpha=None), TypeError, "elu_alpha"),
    ],
)
def test_validation_messages(kwargs, exc, words):
    args = dict(a=np.ones((2, 3), np.float32), b=np.ones((3, 2), np.float32))
    args.update(kwargs)
    a, b = args.pop("a"), args.pop("b")
    with pytest.raises(exc) as info:
        linalg.gemm(a, b, **args)
    assert words in str(info.value)


def test_out_must_not_alias_inputs():
    x = np.ones((4, 4), np.float32)
    for kw in (dict(a=x), dict(b=x)):
        a = kw.get("a", np.ones((4, 4), np.float32))
        b = kw.get("b", np.ones((4, 4), np.float32))
        with pytest.raises(ValueError, match="share memory"):
            linalg.gemm(a, b, out=x)
    buf = np.ones(16, np.float32)
    with pytest.raises(ValueError, match="share memory with bias"):
        linalg.gemm(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32),
                    out=buf.reshape(4, 4), bias=buf[12:16])
    ro = np.ones((4, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        linalg.gemm(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32), out=ro)


def test_gemm_into_matches_gemm():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((6, 5)).astype(dtype)
        b = rng.standard_normal((4, 5)).astype(dtype)
        bias = rng.standard_normal(4).astype(dtype)
        act, p = linalg.activation_id("leaky_relu", 0.2)
        out = np.empty((6, 4), dtype)
        assert linalg.gemm_into(a, b, out, False, True, 1.5, 0.0, bias, act, p) is out
        exp = linalg.gemm(a, b, trans_b=True, alpha=1.5, bias=bias, activation="leaky_relu",
                          negative_slope=0.2)
        assert np.array_equal(out, exp)
        out2 = np.empty((5, 4), dtype)
        linalg.gemm_into(rng.standard_normal((5, 5)).astype(dtype), b, out2, True, True)
    with pytest.raises(ValueError):  # non-contiguous refused by from_buffer, never misread
        linalg.gemm_into(np.ones((4, 8), np.float32)[:, ::2], np.ones((4, 4), np.float32),
                         np.empty((4, 4), np.float32))
    with pytest.raises(linalg.GemmError):  # ld check in C catches a too-narrow b
        linalg.gemm_into(np.ones((4, 4)), np.ones((4, 2)), np.empty((4, 3)))


def test_c_core_returns_error_codes():
    f = ffi.new("float[64]")
    n = ffi.NULL
    s = lib.fastff_sgemm
    assert s(0, 0, -1, 2, 2, 1, f, 2, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_DIM
    assert s(2, 0, 2, 2, 2, 1, f, 2, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_TRANS
    assert s(0, 0, 2, 2, 3, 1, f, 2, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_LD
    assert s(0, 1, 2, 2, 3, 1, f, 3, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_LD
    assert s(0, 0, 2, 3, 2, 1, f, 2, f, 3, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_LD
    assert s(0, 0, 2, 2, 2, 1, n, 2, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_NULL
    assert s(0, 0, 2, 2, 2, 1, f, 2, f, 2, 0, n, 2, n, 0, 0) == lib.FASTFF_ERR_NULL
    assert s(0, 0, 2, 2, 2, 1, f, 2, f, 2, 0, f, 2, n, 9, 0) == lib.FASTFF_ERR_ACT
    big = 2**62
    assert s(0, 0, 4, 2, 2, 1, f, big, f, 2, 0, f, 2, n, 0, 0) == lib.FASTFF_ERR_OVERFLOW
    d = ffi.new("double[4]")
    assert lib.fastff_dgemm(0, 0, 0, 0, 0, 1, n, 1, n, 1, 0, n, 1, n, 0, 0) == lib.FASTFF_OK
    assert lib.fastff_dgemm(0, 0, 1, 1, 1, 1, d, 0, d, 1, 0, d, 1, n, 0, 0) == lib.FASTFF_ERR_LD
    assert b"negative" in ffi.string(lib.fastff_strerror(lib.FASTFF_ERR_DIM))
    assert lib.fastff_set_num_threads(0) == lib.FASTFF_ERR_THREADS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_core_writes_only_inside_c(dtype):
    """ldc > n with sentinels in the padding and around the buffer stay untouched."""
    rng = np.random.default_rng(4)
    ct = "float *" if dtype == np.float32 else "double *"
    fn = lib.fastff_sgemm if dtype == np.float32 else lib.fastff_dgemm
    for m, n, k in [(1, 5, 3), (37, 29, 53), (130, 70, 300), (3, 300, 20)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        ldc = n + 7
        buf = np.full((m + 2) * ldc, 12345.0, dtype)
        c = buf[ldc: ldc + m * ldc].reshape(m, ldc)
        p = lambda x: ffi.cast(ct, x.ctypes.data)  # noqa: E731
        assert fn(0, 0, m, n, k, 1.0, p(a), k, p(b), n, 0.0, p(c), ldc, ffi.NULL, 3, 0.0) == 0
        assert (buf[:ldc] == 12345.0).all() and (buf[ldc + m * ldc:] == 12345.0).all()
        assert (c[:, n:] == 12345.0).all()
        np.testing.assert_allclose(c[:, :n], np.tanh(a.astype(np.float64) @ b),
                                   rtol=1e-4, atol=1e-4)


def test_caller_floating_point_state_is_restored():
    """FTZ/DAZ is set only inside the call: subnormals still work in NumPy afterwards."""
    linalg.gemm(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))
    tiny = np.float32(1e-39)
    assert tiny * np.float32(1.0) != 0
    assert np.float64(1e-310) * 1.0 != 0
