"""GEMM core vs a float64 NumPy reference: every kernel the CPU supports x dtype x trans flags
x alpha/beta x bias x activation on odd shapes, both thread counts, bitwise equality across
thread counts, argument validation and memory layouts.

Error bound (per element): the core sums k products in floating point, so by the standard
dot-product analysis |fl(s) - s| <= gamma_k * sum|terms| with gamma_k ~ k*u (u = eps/2); the
epilogue adds a few rounding steps (alpha scale, beta*C, bias: +4). The activation is
Lipschitz with constant L (1 for relu/tanh, 0.25 sigmoid, 1.13 gelu, max(1, slope) leaky,
max(1, alpha) elu) and its own evaluation adds <= 8 ulp relative. Subnormals are flushed
(FTZ/DAZ), hence the tiny absolute term. This is a worst-case bound, not a fudge factor.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fastff import _core, linalg

ffi, lib = _core.ffi, _core.lib

KERNELS = [n for n in ffi.string(lib.fastff_kernel_names()).decode().split()
           if lib.fastff_kernel_supported(n.encode())]
ACTS = [None, "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh"]
DTYPES = [np.float32, np.float64]

LIPSCHITZ = {None: 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25, "gelu": 1.13,
             "gelu_tanh": 1.13}
_ERF = np.vectorize(math.erf, otypes=[np.float64])


def act64(z: np.ndarray, activation: str | None, slope: float, elu_alpha: float) -> np.ndarray:
    if activation in (None, "linear", "none"):
        return z
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "leaky_relu":
        return np.where(z < 0, z * slope, z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if activation == "elu":
        return np.where(z > 0, z, elu_alpha * np.expm1(np.minimum(z, 0)))
    if activation == "gelu":  # exact: 0.5 z (1 + erf(z / sqrt 2))
        return 0.5 * z * (1.0 + _ERF(z * 0.7071067811865476))
    if activation == "gelu_tanh":  # 0.5 z (1 + tanh u) written as z * sigmoid(2u)
        u = 0.7978845608028654 * (z + 0.044715 * z**3)
        with np.errstate(over="ignore"):
            return z / (1.0 + np.exp(-2.0 * u))
    raise ValueError(activation)


def reference(a, b, *, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, bias=None,
              activation=None, slope=0.01, elu_alpha=1.0):
    """(expected, bound) in float64."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    opa = a64.T if trans_a else a64
    opb = b64.T if trans_b else b64
    z = alpha * (opa @ opb)
    mag = abs(alpha) * (np.abs(opa) @ np.abs(opb))
    if beta != 0:
        z = z + beta * c.astype(np.float64)
        mag = mag + np.abs(beta * c.astype(np.float64))
    if bias is not None:
        z = z + bias.astype(np.float64)
        mag = mag + np.abs(bias.astype(np.float64))
    y = act64(z, activation, slope, elu_alpha)
    u = float(np.finfo(a.dtype).eps) / 2
    k = opa.shape[1]
    lip = LIPSCHITZ.get(activation)
    if activation == "leaky_relu":
        lip = max(1.0, abs(slope))
    elif activation == "elu":
        lip = max(1.0, abs(elu_alpha))
    tiny = float(np.finfo(a.dtype).tiny)
    bound = lip * (k + 4) * u * mag + 8 * u * np.abs(y) + 8 * tiny * (k + 4)
    return y, bound


def assert_close(got: np.ndarray, expected: np.ndarray, bound: np.ndarray, what: str) -> None:
    err = np.abs(got.astype(np.float64) - expected)
    bad = ~(err <= bound)  # catches NaN too
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} elements off; worst at {i}: got "
            f"{got[i]!r}, expected {expected[i]!r}, bound {bound[i]:.3g}")


def _rand(rng, shape, dtype):
    return (rng.standard_normal(shape)).astype(dtype)


def _case(rng, m, n, k, dtype, ta, tb, alpha, beta, use_bias, act, slope=0.1, elu_alpha=1.3):
    a = _rand(rng, (k, m) if ta else (m, k), dtype)
    b = _rand(rng, (n, k) if tb else (k, n), dtype)
    c0 = _rand(rng, (m, n), dtype)
    bias = _rand(rng, (n,), dtype) if use_bias else None
    out = c0.copy()
    got = linalg.gemm(a, b, out=out, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb, bias=bias,
                      activation=act, negative_slope=slope, elu_alpha=elu_alpha)
    assert got is out
    exp, bound = reference(a, b, c=c0, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb,
                           bias=bias, activation=act, slope=slope, elu_alpha=elu_alpha)
    assert_close(got, exp, bound,
                 f"m={m} n={n} k={k} {np.dtype(dtype).name} ta={ta} tb={tb} alpha={alpha} "
                 f"beta={beta} bias={use_bias} act={act}")


SMALL_DIMS = [1, 2, 3, 7, 17]
SCALES = [(1.0, 0.0), (-0.5, 0.75), (2.0, 1.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_small_full_cross_product(kernel, dtype, act):
    """Every small shape x trans x alpha/beta x bias for one kernel/dtype/activation."""
    rng = np.random.default_rng(1)
    for m, n, k in itertools.product(SMALL_DIMS, SMALL_DIMS, SMALL_DIMS):
        for ta, tb, (alpha, beta), use_bias in itertools.product(
                (False, True), (False, True), SCALES, (False, True)):
            if (m + n + k + ta + 2 * tb + int(alpha) + use_bias) % 3:
                continue  # a third of the flag combinations per shape: all are hit across shapes
            _case(rng, m, n, k, dtype, ta, tb, alpha, beta, use_bias, act)


MEDIUM_DIMS = [1, 17, 63, 64, 65, 129]


@pytest.mark.parametrize("dtype", DTYPES)
def test_medium_sampled(kernel, dtype):
    """Shapes around register-tile and cache-block edges, flags sampled."""
    rng = np.random.default_rng(2)
    for i, (m, n, k) in enumerate(itertools.product(MEDIUM_DIMS, MEDIUM_DIMS, MEDIUM_DIMS)):
        if i % 4:
            continue
        ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
        alpha, beta = SCALES[rng.integers(len(SCALES))]
        act = ACTS[rng.integers(len(ACTS))]
        _case(rng, m, n, k, dtype, ta, tb, alpha, beta, bool(rng.integers(2)), act)


BIG_SHAPES = [(300, 300, 300), (1, 256, 784), (128, 256, 784), (128, 10, 256),
              (256, 784, 128), (1000, 65, 1000), (2, 1000, 300), (129, 300, 1000)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_big_shapes(kernel, threads, dtype, nthreads):
    threads(nthreads)
    rng = np.random.default_rng(3)
    for j, (m, n, k) in enumerate(BIG_SHAPES):
        ta, tb = bool(j & 1), bool(j & 2)
        act = ACTS[j % len(ACTS)]
        alpha, beta = SCALES[j % len(SCALES)]
        _case(rng, m, n, k, dtype, ta, tb, alpha, beta, j % 2 == 0, act)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thousand_cubed(kernel, dtype):
    rng = np.random.default_rng(4)
    _case(rng, 1000, 1000, 1000, dtype, False, False, 1.0, 0.0, True, "relu")


# (m, n, k, trans_a, trans_b), all above the 10 MFLOP parallel threshold: packed path with
# every flag combination, small-M (columns split), small-N column form (rows split)
DETERMINISM_SHAPES = [(300, 300, 300, False, False), (1, 8192, 1000, False, False),
                      (3, 4000, 700, False, True), (1000, 65, 1000, True, False),
                      (129, 1000, 200, True, True), (64, 2048, 300, False, True),
                      (3000, 10, 300, False, False), (3000, 13, 300, True, False)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_across_thread_counts(kernel, threads, dtype):
    rng = np.random.default_rng(5)
    for m, n, k, ta, tb in DETERMINISM_SHAPES:
        a = _rand(rng, (k, m) if ta else (m, k), dtype)
        b = _rand(rng, (n, k) if tb else (k, n), dtype)
        bias = _rand(rng, (n,), dtype)
        c0 = _rand(rng, (m, n), dtype)
        results = []
        for nt in (1, 2, 3):
            threads(nt)
            out = c0.copy()
            linalg.gemm(a, b, out=out, beta=0.5, trans_a=ta, trans_b=tb, bias=bias,
                        activation="gelu")
            results.append(out)
        for nt, r in zip((2, 3), results[1:]):
            assert np.array_equal(results[0].view(np.uint8), r.view(np.uint8)), (
                f"{m}x{n}x{k} differs between 1 and {nt} threads")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_in_place_and_packed_give_the_same_bits(kernel, dtype):
    """A row-major A is read in place (row stride not a multiple of 4 KiB) or packed (a
    multiple): the same values, so the same bits, with full and partial row panels."""
    rng = np.random.default_rng(9)
    k = 4096 // np.dtype(dtype).itemsize  # a contiguous row is exactly 4 KiB: packed
    for m, n in ((61, 40), (96, 33)):
        packed = _rand(rng, (m, k), dtype)
        in_place = np.empty((m, k + 3), dtype)[:, :k]  # row stride k + 3
        in_place[...] = packed
        b = _rand(rng, (k, n), dtype)
        bias = _rand(rng, (n,), dtype)
        c0 = _rand(rng, (m, n), dtype)
        got = [linalg.gemm(x, b, out=c0.copy(), beta=0.5, bias=bias, activation="relu")
               for x in (packed, in_place)]
        assert np.array_equal(got[0].view(np.uint8), got[1].view(np.uint8)), f"{m}x{n}x{k}"


def test_kernels_agree_closely():
    """All kernels meet the same bound; spot-check they are used (name switches)."""
    for name in KERNELS:
        assert lib.fastff_set_kernel(name.encode()) == 0
        assert linalg.kernel_name() == name
    assert lib.fastff_set_kernel(b"nope") == lib.FASTFF_ERR_KERNEL
    lib.fastff_set_kernel(KERNELS[0].encode())
