"""The sparse-A GEMM entry (``fastff_{s,d}gemm_sparse_a``, ``linalg.gemm(..., sparse_a=True)``)
must give the dense entry's exact bits - every kernel set x dtype x trans_a x activation x
alpha/beta x bias, odd shapes on both sides of the small/packed split and of the K blocking,
densities on both sides of the sparse/dense switch, 1 and 2 threads - and stay close to a
float64 reference (the dense path's own tests bound that; here one reference check guards
against both paths being wrong the same way). Fixtures ``kernel`` and ``threads``: conftest.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fastff import _core, linalg

ffi, lib = _core.ffi, _core.lib

DTYPES = [np.float32, np.float64]
ACTS = [None, "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh"]


def sparse_matrix(rng, shape, density, dtype):
    """Standard normal values at a `density` fraction of positions, zeros elsewhere."""
    return (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(dtype)


def both(a, b, c0, **kw):
    """(dense result, sparse-A result) of the same call, each into its own copy of c0."""
    dense = linalg.gemm(a, b, out=c0.copy(), **kw)
    sparse = linalg.gemm(a, b, out=c0.copy(), sparse_a=True, **kw)
    return dense, sparse


def assert_same_bits(x: np.ndarray, y: np.ndarray, what: str) -> None:
    same = x.view(np.uint8) == y.view(np.uint8)
    if not same.all():
        bad = np.argwhere(~np.all(same.reshape(*x.shape, -1), axis=-1))[0]
        raise AssertionError(f"{what}: first difference at {tuple(bad)}: dense "
                             f"{x[tuple(bad)]!r}, sparse {y[tuple(bad)]!r}")


# m, n, k: single rows (dense whatever the density: SPARSE_MIN_ROWS), the fewest rows the
# sparse small-M path takes, tiny N (small path), the packed path, K over one block (kc is
# 256..384 in the kernel sets) and N over one register chunk
SHAPES = [(1, 7, 129), (1, 300, 784), (3, 300, 784), (5, 3, 17), (7, 129, 1), (33, 1, 64),
          (64, 10, 300), (129, 257, 800), (130, 200, 1025)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_equal_to_dense(kernel, dtype):
    rng = np.random.default_rng(7)
    for (m, n, k), ta, density in itertools.product(SHAPES, (False, True), (0.0, 0.03, 0.2)):
        a = sparse_matrix(rng, (k, m) if ta else (m, k), density, dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype)
        c0 = rng.standard_normal((m, n)).astype(dtype)
        dense, sparse = both(a, b, c0, trans_a=ta, bias=bias, activation="relu")
        assert_same_bits(dense, sparse, f"{kernel} {np.dtype(dtype).name} m={m} n={n} k={k} "
                                        f"ta={ta} density={density}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_epilogue_rules_match(kernel, dtype, act):
    """alpha, beta (C read), bias and every activation go through the same rules."""
    rng = np.random.default_rng(11)
    for (m, n, k), ta, (alpha, beta), use_bias in itertools.product(
            [(3, 40, 50), (40, 130, 420)], (False, True), [(1.0, 0.0), (-0.5, 0.75), (2.0, 1.0)],
            (False, True)):
        a = sparse_matrix(rng, (k, m) if ta else (m, k), 0.1, dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype) if use_bias else None
        c0 = rng.standard_normal((m, n)).astype(dtype)
        dense, sparse = both(a, b, c0, trans_a=ta, alpha=alpha, beta=beta, bias=bias,
                             activation=act, negative_slope=0.1, elu_alpha=1.3)
        assert_same_bits(dense, sparse, f"{kernel} act={act} ta={ta} alpha={alpha} "
                                        f"beta={beta} bias={use_bias} {m}x{n}x{k}")


def test_close_to_float64_reference():
    rng = np.random.default_rng(3)
    a = sparse_matrix(rng, (128, 784), 0.19, np.float32)
    b = rng.standard_normal((784, 256)).astype(np.float32)
    got = linalg.gemm(a, b, sparse_a=True)
    exp = a.astype(np.float64) @ b.astype(np.float64)
    bound = 784 * np.finfo(np.float32).eps * (np.abs(a).astype(np.float64) @ np.abs(b))
    assert np.all(np.abs(got - exp) <= bound + 1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_with_one_and_two_threads(threads, dtype):
    rng = np.random.default_rng(5)
    for ta in (False, True):
        a = sparse_matrix(rng, (784, 256) if ta else (256, 784), 0.15, dtype)
        b = rng.standard_normal((784, 300)).astype(dtype)
        outs = []
        for n in (1, 2):
            threads(n)
            outs.append(linalg.gemm(a, b, trans_a=ta, sparse_a=True, activation="tanh"))
        assert_same_bits(outs[0], outs[1], f"ta={ta} 1 vs 2 threads")


def test_dense_looking_and_unsupported_calls_fall_back():
    """A above the density switch, transposed B, k == 0, alpha == 0: the dense entry's bits."""
    rng = np.random.default_rng(2)
    a = sparse_matrix(rng, (50, 60), 0.9, np.float32)
    b = rng.standard_normal((60, 40)).astype(np.float32)
    c0 = rng.standard_normal((50, 40)).astype(np.float32)
    for kw in ({}, {"alpha": 0.0, "beta": 0.5}):
        dense, sparse = both(a, b, c0, **kw)
        assert_same_bits(dense, sparse, str(kw))
    bt = np.ascontiguousarray(b.T)
    dense, sparse = both(sparse_matrix(rng, (50, 60), 0.1, np.float32), bt, c0, trans_b=True)
    assert_same_bits(dense, sparse, "trans_b")
    empty = np.zeros((50, 0), np.float32)
    dense, sparse = both(empty, np.zeros((0, 40), np.float32), c0, beta=1.0,
                         bias=np.ones(40, np.float32))
    assert_same_bits(dense, sparse, "k == 0")


def test_memory_orders_and_strides():
    """Fortran-ordered and row-strided operands (linalg.gemm passes them as flipped
    transposes / leading dimensions) give the dense bits too."""
    rng = np.random.default_rng(9)
    a = sparse_matrix(rng, (70, 90), 0.1, np.float64)
    b = rng.standard_normal((90, 33))
    c0 = np.zeros((70, 33))
    for aa, bb in ((np.asfortranarray(a), b), (a, np.asfortranarray(b)),
                   (np.pad(a, ((0, 0), (0, 6)))[:, :90], b)):
        dense, sparse = both(aa, bb, c0)
        assert_same_bits(dense, sparse, f"a order {aa.flags.f_contiguous} b order "
                                        f"{bb.flags.f_contiguous}")


def test_non_finite_values_of_a_propagate_like_dense():
    a = np.zeros((20, 30), np.float32)
    a[3, 4] = np.nan
    a[7, 8] = np.inf
    b = np.random.default_rng(0).standard_normal((30, 17)).astype(np.float32)
    dense, sparse = both(a, b, np.zeros((20, 17), np.float32))
    assert_same_bits(dense, sparse, "nan/inf")
    assert np.isnan(sparse[3]).all() and not np.isfinite(sparse[7]).any()


def test_argument_errors_are_the_dense_ones():
    a = np.zeros((4, 5), np.float32)
    b = np.zeros((6, 3), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        linalg.gemm(a, b, sparse_a=True)
    with pytest.raises(TypeError, match="sparse_a"):
        linalg.gemm(a, np.zeros((5, 3), np.float32), sparse_a="yes")
    c = np.zeros((4, 3), np.float32)
    rc = lib.fastff_sgemm_sparse_a(0, 0, 4, 3, 5, 1.0, ffi.cast("float *", a.ctypes.data), 2,
                                   ffi.cast("float *", b.ctypes.data), 3, 0.0,
                                   ffi.cast("float *", c.ctypes.data), 3, ffi.NULL, 0, 0.0)
    assert rc == lib.FASTFF_ERR_LD
    assert lib.fastff_gemm_sparse_a(7, 0, 0, 1, 1, 1, 1.0, ffi.NULL, 1, ffi.NULL, 1, 0.0,
                                    ffi.NULL, 1, ffi.NULL, 0, 0.0) == lib.FASTFF_ERR_DTYPE
