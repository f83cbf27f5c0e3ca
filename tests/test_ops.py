"""CpuOps (Numba + C GEMM) against the NumpyOps reference, kernel by kernel.

Odd shapes, float32 and float64, C and F order inputs; loss kernels against direct formulas
(extreme logits included); parallel variants bitwise equal across thread counts.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import _threading
from fastff.backend import cpu_ops, get_ops
from fastff.backend.numpy_ops import ACTIVATIONS

REF = get_ops("numpy")
CPU = get_ops("cpu")
SHAPES = [(1,), (7,), (129,), (3, 1), (1, 10), (33, 65)]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


def rnd(shape, dtype, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOL[dtype])


def close_gemm(a, b, dtype):
    """GEMM results: summation order differs (blocked C core vs BLAS), so allow cancellation
    error relative to the largest magnitude."""
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    if dtype == np.float32:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6 * scale)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13 * scale)


PARAM = {"leaky_relu": 0.2, "elu": 1.0}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(name, dtype):
    p = PARAM.get(name, 0.0)
    glu = name == "glu"  # it halves the last axis: even widths in, half widths out
    for k, shape in enumerate(SHAPES):
        if glu:
            shape = (*np.atleast_1d(shape)[:-1], 2 * np.atleast_1d(shape)[-1])
        x = rnd(shape, dtype, k, 3.0)
        y = CPU.activation(name, x, param=p)
        close(y, REF.activation(name, x, param=p), dtype)
        dy = rnd(y.shape, dtype, k + 100)
        got = CPU.backprop_activation(name, dy, x, y, param=p)
        close(got, REF.backprop_activation(name, dy, x, REF.activation(name, x, param=p),
                                           param=p), dtype)
    # F-order input, out= given
    x = np.asfortranarray(rnd((33, 66), dtype, 7, 3.0))
    out = np.empty((33, 33 if glu else 66), dtype)
    assert CPU.activation(name, x, out=out, param=p) is out
    close(out, REF.activation(name, np.ascontiguousarray(x), param=p), dtype)


@pytest.mark.parametrize("shape", [0, 1, (3, 5), (7, 1, 2)])
def test_alloc_zeroed_aligned(shape):
    for ops in (CPU, REF):
        a = ops.alloc(shape, np.float32)
        assert a.shape == ((shape,) if isinstance(shape, int) else shape)
        assert a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
        assert not a.any() and (a.size == 0 or a.ctypes.data % 64 == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_grad(dtype):
    for k, shape in enumerate([(1, 1), (7, 3), (3, 1), (1, 10), (33, 65), (129, 7)]):
        dy = rnd(shape, dtype, k)
        np.testing.assert_array_equal(CPU.bias_grad(dy), REF.bias_grad(dy))
        out = np.empty(shape[1], dtype)
        assert CPU.bias_grad(dy, out) is out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_gemm(dtype, trans_a, trans_b):
    for k, (m, kk, n) in enumerate([(1, 1, 1), (7, 3, 1), (1, 10, 7), (33, 65, 129), (3, 1, 10)]):
        a = rnd((kk, m) if trans_a else (m, kk), dtype, k)
        b = rnd((n, kk) if trans_b else (kk, n), dtype, k + 1)
        bias = rnd(n, dtype, k + 2)
        c0 = rnd((m, n), dtype, k + 3)
        for act in ("linear", "relu", "tanh", "softplus"):
            got = CPU.gemm(a, b, c0.copy(), trans_a=trans_a, trans_b=trans_b, alpha=0.5,
                           beta=2.0, bias=bias, activation=act)
            exp = REF.gemm(a, b, c0.copy(), trans_a=trans_a, trans_b=trans_b, alpha=0.5,
                           beta=2.0, bias=bias, activation=act)
            close_gemm(got, exp, dtype)
    a = np.asfortranarray(rnd((7, 5), dtype, 9))
    close_gemm(CPU.gemm(a, a, trans_b=True), REF.gemm(a, a, trans_b=True), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "elu",
                                 "gelu", "softmax"])
def test_dense_and_backprop(dtype, act):
    p = PARAM.get(act, 0.0)
    for k, (n, i, o) in enumerate([(1, 1, 1), (7, 3, 10), (33, 65, 7), (3, 1, 1)]):
        x, w, b = rnd((n, i), dtype, k), rnd((i, o), dtype, k + 1), rnd(o, dtype, k + 2)
        y = CPU.dense(x, w, b, act, p)
        close_gemm(y, REF.dense(x, w, b, act, p), dtype)
        close_gemm(CPU.dense(x, w, None, act, p), REF.dense(x, w, None, act, p), dtype)
        dy = rnd((n, o), dtype, k + 3)
        res = {}
        for name, ops in (("cpu", CPU), ("ref", REF)):
            dw, db = np.empty_like(w), np.empty_like(b)
            if ops.backprop_needs_input(act):
                z = ops.dense(x, w, b, "linear")
                dz = ops.backprop_activation(act, dy, z, None, param=p)
                dx = ops.backprop_dense(dz, x, w, dw, db)
            else:
                dx = ops.backprop_dense(dy, x, w, dw, db, activation=act, y=y, param=p)
            res[name] = (dx, dw, db)
        for got, exp in zip(res["cpu"], res["ref"]):
            close_gemm(got, exp, dtype)
    # first layer: no dx, no db
    dw = np.empty_like(w)
    assert CPU.backprop_dense(dy, x, w, dw, None, dx=False) is None
    close_gemm(dw, x.T @ dy, dtype)


def _direct_sparse(z, labels):
    z = z.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.log(p[np.arange(len(z)), labels]), p


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_xent_sparse(dtype, weighted):
    for k, (n, c) in enumerate([(1, 1), (7, 3), (1, 10), (33, 65), (129, 10)]):
        z = rnd((n, c), dtype, k, 2.0)
        labels = np.random.default_rng(k).integers(0, c, n)
        w = np.random.default_rng(k + 5).random(n) if weighted else None
        loss, dz = CPU.softmax_xent_sparse(z, labels, w)
        rl, rdz = REF.softmax_xent_sparse(z, labels, w)
        close(loss, rl, dtype)
        close(dz, rdz, dtype)
        dl, p = _direct_sparse(z, labels)
        np.testing.assert_allclose(loss, dl, rtol=1e-5, atol=1e-6)
        ww = np.ones(n) if w is None else w
        p[np.arange(n), labels] -= 1
        np.testing.assert_allclose(dz, p * (ww / n)[:, None], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_extreme_logits(dtype):
    z = np.array([[1000, -1000, 0], [-1000, -1000, -1000], [1000, 1000, -1000]], dtype)
    for ops in (CPU, REF):
        loss, dz = ops.softmax_xent_sparse(z, np.array([1, 2, 0]))
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dz))
        np.testing.assert_allclose(loss, [2000, np.log(3), np.log(2)], rtol=1e-6)
        loss2, dz2 = ops.softmax_xent(z, np.eye(3, dtype=dtype)[[1, 2, 0]])
        close(loss2, loss, dtype)
        close(dz2, dz, dtype)
        lb, db = ops.sigmoid_bce(z, (z > 0).astype(dtype))
        assert np.all(np.isfinite(lb)) and np.all(np.isfinite(db))
        np.testing.assert_allclose(lb, [np.log(2) / 3, 0, 0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ops", [CPU, REF], ids=["cpu", "numpy"])
def test_sparse_label_out_of_range(ops):
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(ValueError, match="outside"):
            ops.softmax_xent_sparse(np.zeros((2, 3), np.float32), np.array(bad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_dense_and_bce(dtype):
    for k, (n, c) in enumerate([(1, 1), (7, 3), (33, 65)]):
        z = rnd((n, c), dtype, k, 2.0)
        t = np.random.default_rng(k).random((n, c)).astype(dtype)
        w = np.random.default_rng(k + 9).random(n)
        for fn in ("softmax_xent", "sigmoid_bce"):
            for sw in (None, w):
                got = getattr(CPU, fn)(z, t, sw)
                exp = getattr(REF, fn)(z, t, sw)
                close(got[0], exp[0], dtype)
                close(got[1], exp[1], dtype)
        # direct formulas (float64)
        z64, t64 = z.astype(np.float64), t.astype(np.float64)
        logp = z64 - np.log(np.exp(z64 - z64.max(1, keepdims=True)).sum(1, keepdims=True)) \
            - z64.max(1, keepdims=True)
        np.testing.assert_allclose(CPU.softmax_xent(z, t)[0], -(t64 * logp).sum(1), rtol=1e-4,
                                   atol=1e-5)
        s = 1 / (1 + np.exp(-z64))
        bce = -(t64 * np.log(s) + (1 - t64) * np.log(1 - s)).mean(1)
        np.testing.assert_allclose(CPU.sigmoid_bce(z, t)[0], bce, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask(dtype):
    for shape in [(1,), (7,), (129,), (3, 1), (1, 10), (33, 65)]:
        for rate in (0.0, 0.1, 0.5, 0.9):
            a = CPU.dropout_mask(shape, rate, seed=3, counter=5, dtype=dtype)
            b = REF.dropout_mask(shape, rate, seed=3, counter=5, dtype=dtype)
            assert a.shape == shape and a.dtype == dtype
            np.testing.assert_array_equal(a, b)
    assert np.all(CPU.dropout_mask((33, 65), 0.0, 1, 0, dtype) == 1)
    m = CPU.dropout_mask(200_000, 0.3, 11, 2, dtype)
    assert abs(m.mean() - 1.0) < 0.01
    assert abs((m == 0).mean() - 0.3) < 0.005
    assert not np.array_equal(m, CPU.dropout_mask(200_000, 0.3, 11, 3, dtype))
    assert not np.array_equal(m, CPU.dropout_mask(200_000, 0.3, 12, 2, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_norms(dtype):
    for k, shape in enumerate(SHAPES + [(70_000,)]):
        x = rnd(shape, dtype, k)
        assert CPU.sq_norm(x) == pytest.approx(REF.sq_norm(x), rel=1e-12)
    xs = [rnd(s, dtype, 3) for s in SHAPES]
    assert CPU.global_norm(xs) == pytest.approx(np.sqrt(sum((x.astype(float) ** 2).sum()
                                                            for x in xs)), rel=1e-12)


def _opt_calls(n, dtype):
    """(name, kwargs) for every optimizer kernel variant."""
    def bufs(k):
        out = [np.abs(rnd(n, dtype, 50 + i)) * 0.1 for i in range(k)]
        out[0] += 1  # rmsprop: velocity > average_gradient²
        return out
    yield "sgd_step", lambda: bufs(1), lambda s: dict(velocity=None, lr=0.1)
    yield "sgd_step", lambda: bufs(1), lambda s: dict(velocity=s[0], lr=0.1, momentum=0.9,
                                                       nesterov=True, clipvalue=0.5)
    yield "sgd_step", lambda: bufs(1), lambda s: dict(velocity=s[0], lr=0.1, momentum=0.9,
                                                       weight_decay=0.01, grad_scale=0.7)
    yield "adagrad_step", lambda: bufs(1), lambda s: dict(accum=s[0], lr=0.1, weight_decay=0.1)
    yield "rmsprop_step", lambda: bufs(3), lambda s: dict(
        velocity=s[0], momentum_buf=s[1], average_grad=s[2], lr=0.01, momentum=0.5,
        centered=True, grad_scale=0.3)
    yield "rmsprop_step", lambda: bufs(3), lambda s: dict(
        velocity=s[0], momentum_buf=None, average_grad=None, lr=0.01)
    yield "adam_step", lambda: bufs(3), lambda s: dict(m=s[0], v=s[1], vhat=None, lr=0.01,
                                                        step=3)
    yield "adam_step", lambda: bufs(3), lambda s: dict(m=s[0], v=s[1], vhat=s[2], lr=0.01,
                                                        step=1, amsgrad=True, weight_decay=0.004,
                                                        clipvalue=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_steps_bitwise_equal_to_reference(dtype):
    for n in (1, 7, 129):
        for method, mk, kw in _opt_calls(n, dtype):
            results = []
            for ops in (CPU, REF):
                p, g, state = rnd(n, dtype, 1), rnd(n, dtype, 2), mk()
                for _ in range(3):
                    getattr(ops, method)(p, g, **kw(state))
                results.append([p, *state])
            for a, b in zip(*results):
                np.testing.assert_array_equal(a, b, err_msg=method)


@pytest.fixture
def force_parallel(monkeypatch):
    """Route every kernel with a parallel variant through it, on small arrays."""
    monkeypatch.setattr(cpu_ops, "PAR_MIN", 1)
    yield
    fastff.set_num_threads(_threading.default_num_threads())


def _run_all_parallel_kernels(dtype):
    n = 40_000  # > 2 chunks
    out = []
    x = rnd((200, 200), dtype, 1)
    out.append(CPU.activation("gelu", x))
    out.append(CPU.backprop_activation("tanh", x, None, out[-1]))
    out.append(CPU.bias_grad(x))
    out.append(np.array(CPU.sq_norm(x)))
    out.append(CPU.dropout_mask(n, 0.4, 1, 2, dtype))
    w = rnd((200, 129), dtype, 3)
    y = CPU.dense(x, w, rnd(129, dtype, 4), "relu")
    dw, db = np.empty_like(w), np.empty(129, dtype)
    out += [y, CPU.backprop_dense(rnd((200, 129), dtype, 5), x, w, dw, db, activation="relu",
                                  y=y), dw, db]
    out += list(CPU.softmax_xent_sparse(y[:, :10], np.arange(200) % 10))
    for method, mk, kw in _opt_calls(n, dtype):
        p, g, state = rnd(n, dtype, 1), rnd(n, dtype, 2), mk()
        getattr(CPU, method)(p, g, **kw(state))
        out += [p, *state]
    return out


@pytest.mark.parametrize("dtype", [np.float32])  # float64 runs the same code; saves compiles
def test_bitwise_equal_across_thread_counts(force_parallel, dtype):
    if _threading.default_num_threads() < 2:
        pytest.skip("needs 2 CPUs")
    fastff.set_num_threads(1)
    one = _run_all_parallel_kernels(dtype)
    fastff.set_num_threads(2)
    two = _run_all_parallel_kernels(dtype)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    # and the parallel variants agree with the serial ones
    cpu_ops.PAR_MIN = 1 << 62
    serial = _run_all_parallel_kernels(dtype)
    for a, b in zip(one, serial):
        np.testing.assert_array_equal(a, b)
