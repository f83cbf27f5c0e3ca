"""Non-finite values propagate as IEEE arithmetic on the dense formula does.

A sweep over every fused C activation x kernel set (ref / avx2 / avx512) x dtype x dense and
sparse-A path x the small and packed GEMM paths, and over every activation of the Ops entry
points (NumpyOps, CpuOps; CudaOps in tests/test_cuda_sim.py's simulator run): NaN and inf
inputs, in A, in B and in the bias, must give the NaN / inf pattern the plain formula gives
in IEEE arithmetic (a NaN never becomes a number), finite elements the usual values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastff import linalg
from fastff.backend.cpu_ops import CpuOps
from fastff.backend.numpy_ops import NumpyOps

C_ACTS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh"]
SLOPE, ELU_ALPHA = 0.2, 1.3
SPECIALS = (np.nan, np.inf, -np.inf)


def _ieee_act(name: str, z: np.ndarray) -> np.ndarray:
    """The C core's activation formulas (epilogue_impl.h) in plain NumPy IEEE arithmetic."""
    t = z.dtype.type
    with np.errstate(all="ignore"):
        if name == "linear":
            return z
        if name == "relu":
            return np.where(z < 0, t(0), z)
        if name == "leaky_relu":
            return np.where(z < 0, z * t(SLOPE), z)
        if name == "tanh":
            return np.tanh(z)
        if name == "sigmoid":
            return t(1) / (t(1) + np.exp(-z))
        if name == "elu":
            return np.where(z > 0, z, t(ELU_ALPHA) * np.expm1(z))
        if name == "gelu":  # exact; erf(+-inf) = +-1, erf(nan) = nan
            erf = np.vectorize(math.erf, otypes=[z.dtype])
            return t(0.5) * z * (t(1) + erf(z * t(0.7071067811865476)))
        if name == "gelu_tanh":
            g = t(0.7978845608028654) * (z + t(0.044715) * z * z * z)
            return z / (t(1) + np.exp(-(g + g)))
    raise AssertionError(name)


def _assert_same_nonfinite(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """Same NaN positions, same infinities (with sign), finite elements close."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN pattern")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg="+inf")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg="-inf")
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=rtol)


def _operands(rng, m, k, n, dtype, sparse):
    a = rng.standard_normal((m, k)).astype(dtype)
    if sparse:
        a[rng.random((m, k)) < 0.9] = 0
        a[0] = 0  # an all-zero row: beside an inf of B the dense chain forms 0 * inf = NaN
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    return a, b, bias


def _poison(rng, x, count):
    flat = x.reshape(-1)
    pos = rng.choice(flat.size, size=count, replace=False)
    flat[pos] = rng.choice(SPECIALS, size=count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("shape", [(5, 7, 19), (40, 33, 37)])  # small path, packed path
def test_c_gemm_epilogue_nonfinite_sweep(kernel, dtype, sparse, shape):
    m, k, n = shape
    rng = np.random.default_rng(hash((kernel, sparse, shape, np.dtype(dtype).char)) % 2**32)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    for where in ("a", "b", "bias", "z"):
        a, b, bias = _operands(rng, m, k, n, dtype, sparse)
        if where == "a":
            _poison(rng, a, 3)
        elif where == "b":
            _poison(rng, b, 3)
        elif where == "bias":
            _poison(rng, bias, 3)
        else:  # every special value straight into the activation (through the bias)
            b[:] = 0
            bias[:] = np.resize(np.array(SPECIALS + (0.0, -0.0, 1e30, -1e30), dtype), n)
        # the dense formula term by term (no BLAS that might skip zeros)
        with np.errstate(all="ignore"):
            z = (a.astype(np.float64)[:, :, None] * b.astype(np.float64)[None]).sum(1)
            z = (z.astype(dtype) + bias).astype(dtype)
        for act in C_ACTS:
            got = linalg.gemm(a, b, bias=bias, activation=act, negative_slope=SLOPE,
                              elu_alpha=ELU_ALPHA, sparse_a=sparse)
            want = _ieee_act(act, z)
            try:
                _assert_same_nonfinite(got, want, rtol * (1e3 if where == "z" else 1))
            except AssertionError as e:
                raise AssertionError(f"{act}, non-finite in {where}: {e}") from None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_a_bitwise_dense_with_nonfinite_b(kernel, dtype):
    """The sparse-A entry's promise (bitwise the dense result) holds for a B with inf/NaN."""
    rng = np.random.default_rng(3)
    a, b, bias = _operands(rng, 48, 64, 40, dtype, sparse=True)
    b[5, 7] = np.inf
    b[9, 1] = np.nan
    for act in C_ACTS:
        dense = linalg.gemm(a, b, bias=bias, activation=act)
        sparse = linalg.gemm(a, b, bias=bias, activation=act, sparse_a=True)
        np.testing.assert_array_equal(sparse.view(np.uint8), dense.view(np.uint8), err_msg=act)
        assert np.isnan(dense[0, 7]) and np.isnan(dense[:, 1]).all()


OPS_ACTS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "tanh", "sigmoid",
            "hard_sigmoid", "softplus", "softsign", "silu", "exponential"]


def _specials_grid(dtype):
    x = np.array(SPECIALS + (0.0, -0.0, 1.5, -2.5, 80.0, -80.0, 1e30, -1e30), dtype)
    return np.stack([x, x[::-1]])


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_activation_nonfinite(ops, dtype):
    ref = NumpyOps()
    x = _specials_grid(dtype)
    for act in OPS_ACTS:
        with np.errstate(all="ignore"):
            got = ops.to_numpy(ops.activation(act, ops.asarray(x), None, 0.3))
            want = ref.activation(act, x, None, 0.3)
        assert np.isnan(got[np.isnan(x)]).all(), f"{act}: NaN became a number"
        _assert_same_nonfinite(got, want, 1e-5)


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [a for a in C_ACTS if a != "gelu_tanh"])  # C-only form
def test_ops_dense_nonfinite(ops, dtype, act):
    rng = np.random.default_rng(5)
    a, b, bias = _operands(rng, 6, 9, 5, dtype, sparse=True)
    b[2, 3] = np.nan
    b[4, 1] = np.inf
    got = ops.to_numpy(ops.gemm(a, b, bias=bias, activation=act,
                                act_param=ELU_ALPHA if act == "elu" else SLOPE))
    assert np.isnan(got[:, 3]).all()  # every row: 0 * NaN or x * NaN


# ------------------------------------------------------------------------------ softmax
def _softmax_ieee(x: np.ndarray) -> np.ndarray:
    """exp(x - max) / Σ exp(x - max) in float64: what PyTorch gives, NaN rows included."""
    with np.errstate(all="ignore"):
        x = x.astype(np.float64)
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_nonfinite_rows(ops, dtype):
    ninf, inf, nan = -np.inf, np.inf, np.nan
    x = np.array([[ninf, 1.0, 2.0, 0.5],      # -inf first: its probability is 0
                  [1.0, ninf, ninf, 3.0],
                  [ninf, ninf, ninf, ninf],   # all -inf: NaN row (as PyTorch)
                  [inf, 1.0, 2.0, 3.0],       # +inf: inf - inf = NaN row (as PyTorch)
                  [1.0, nan, 2.0, 3.0],       # NaN anywhere: NaN row
                  [nan, 1.0, 2.0, 3.0]], dtype)
    want = _softmax_ieee(x)
    with np.errstate(all="ignore"):
        got = ops.to_numpy(ops.activation("softmax", ops.asarray(x)))
        logp = ops.to_numpy(ops.activation("log_softmax", ops.asarray(x)))
    _assert_same_nonfinite(got, want, 1e-6)
    with np.errstate(all="ignore"):
        _assert_same_nonfinite(logp, np.log(want), 1e-6)
    assert got[0, 0] == 0 and got[1, 1] == 0


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
def test_softmax_float32_long_rows_accurate(ops):
    """10^6 near-uniform float32 logits: sums accumulate in float64 (rows sum to 1)."""
    rng = np.random.default_rng(0)
    x = (rng.random((2, 10**6)) * 1e-3).astype(np.float32)
    p = ops.to_numpy(ops.activation("softmax", ops.asarray(x)))
    want = _softmax_ieee(x)
    np.testing.assert_allclose(p, want, rtol=1e-5)
    np.testing.assert_allclose(p.sum(1, dtype=np.float64), 1.0, rtol=1e-5)
    logp = ops.to_numpy(ops.activation("log_softmax", ops.asarray(x)))
    np.testing.assert_allclose(logp, np.log(want), rtol=1e-5)
