"""The fused BatchNormalization / LayerNormalization kernels against NumpyOps: odd shapes
(including ones crossing a statistics block), both dtypes and memory orders, thread-count
independence, the compiled-step entry points, numerical stability and IEEE propagation."""

import numpy as np
import pytest

import fastff
import fastff as keras
from fastff import _threading
from fastff.backend import cpu_ops, get_ops
from fastff.backend.kernels import batch_norm as K_bn
from fastff.testing import check_grads

REF, CPU = get_ops("numpy"), get_ops("cpu")
SHAPES = [(1, 3), (7, 5), (65, 3), (130, 9)]  # 64-row blocks: partial, exact+1, several


def data(shape, dtype, order, seed=0):
    rng = np.random.default_rng(seed + shape[0])
    x = np.asarray(rng.standard_normal(shape) * 3 + 1, dtype=dtype, order=order)
    dy = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    g, b = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    mm = rng.standard_normal(shape[1]).astype(dtype)
    mv = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    return x, dy, g, b, mm, mv


def run_all(ops, x, dy, g, b, mm, mv):
    """Every normalization entry point once; returns the list of results."""
    mm, mv = mm.copy(), mv.copy()
    y, mean, var = ops.batch_norm_train(x, g, b, mm, mv, 0.9, 1e-3)
    out = [y, mean, var, mm, mv]
    y0, _, _ = ops.batch_norm_train(x, None, None, None, None, 0.9, 1e-3)
    out.append(y0)
    out.append(ops.batch_norm(x, g, b, mm, mv, 1e-3))
    for stats in (True, False):
        for gam in (g, None):
            dg, db = np.empty_like(g), np.empty_like(b)
            out += [ops.backprop_batch_norm(dy, x, gam, mean, var, 1e-3, dg, db,
                                            batch_stats=stats), dg, db]
    for rms in (False, True):
        y2, lm, li = ops.layer_norm(x, g, None if rms else b, 1e-3, rms)
        dg, db = np.empty_like(g), np.empty_like(b)
        out += [y2, lm, li, ops.backprop_layer_norm(dy, x, g, lm, li, dg, db, rms_scaling=rms),
                dg, db]
    dg = np.empty_like(g)
    out += [ops.backprop_layer_norm(dy, x, None, lm, li, None, None, None), dg]
    dg[...] = 0
    assert ops.backprop_batch_norm(dy, x, g, mean, var, 1e-3, dg, None, dx=False) is None
    assert ops.backprop_layer_norm(dy, x, g, lm, li, None, None, dx=False) is None
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_reference(dtype, order, shape):
    args = data(shape, dtype, order)
    want, got = run_all(REF, *args), run_all(CPU, *args)
    tol = 2e-4 if dtype == np.float32 else 1e-11
    for k, (a, c) in enumerate(zip(want, got)):
        assert c.dtype == a.dtype == dtype, k
        np.testing.assert_allclose(c, a, rtol=tol, atol=tol, err_msg=str(k))


def test_moving_statistics_update_as_keras():
    x, _, g, b, mm, mv = data((70, 4), np.float32, "C")
    m0, v0 = mm.copy(), mv.copy()
    _, mean, var = CPU.batch_norm_train(x, g, b, mm, mv, 0.99, 1e-3)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(0), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(0), rtol=1e-6)  # biased, as Keras
    f = np.float32
    np.testing.assert_array_equal(mm, m0 * f(0.99) + mean * f(1 - 0.99))
    np.testing.assert_array_equal(mv, v0 * f(0.99) + var * f(1 - 0.99))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_stable_under_large_mean(dtype):
    rng = np.random.default_rng(3)
    off = 1e3 if dtype == np.float32 else 1e8
    x = (rng.standard_normal((1000, 3)) + off).astype(dtype)
    x[0] += 5  # the first row of a block several deviations out
    exact = x.astype(np.float64) - off  # exact for these magnitudes
    _, mean, var = CPU.batch_norm_train(x, None, None, None, None, 0.9, 1e-3)
    # a one-pass E[x²] - E[x]² keeps no digit here; the blocks keep all but ~ulp(offset)
    np.testing.assert_allclose(var, exact.var(0), rtol=1e-6 if dtype == np.float32 else 1e-7)
    np.testing.assert_allclose(mean.astype(np.float64) - off, exact.mean(0), atol=off * 1e-7)


def test_ieee_propagation():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((70, 4))
    x[66, 1] = np.nan  # in the second block
    x[3, 2] = np.inf
    mm, mv = np.zeros(4), np.ones(4)
    y, mean, var = CPU.batch_norm_train(x, None, None, mm, mv, 0.9, 1e-3)
    assert np.isnan(y[:, 1:3]).all() and np.isfinite(y[:, [0, 3]]).all()
    assert np.isnan(mean[1]) and mean[2] == np.inf and np.isnan(var[1:3]).all()
    assert np.isnan(mm[1]) and np.isnan(mv[1:3]).all() and np.isfinite(mm[[0, 3]]).all()
    dy = rng.standard_normal(x.shape)
    dy[5, 0] = np.nan
    xs = x[:, [0, 3]]
    m, v = mean[[0, 3]], var[[0, 3]]
    dg, db = np.empty(2), np.empty(2)
    dx = CPU.backprop_batch_norm(dy[:, [0, 3]], xs, None, m, v, 1e-3, dg, db)
    assert np.isnan(dg[0]) and np.isnan(db[0]) and np.isnan(dx[:, 0]).all()
    assert np.isfinite([dg[1], db[1]]).all() and np.isfinite(dx[:, 1]).all()
    y2, _, _ = CPU.layer_norm(x, None, None, 1e-3)
    assert np.isnan(y2[[3, 66]]).all() and np.isfinite(np.delete(y2, [3, 66], 0)).all()


def test_compiled_step_entry_points_equal_ops():
    """``train_forward`` / ``train_backward`` with caller-given buffers (what a compiled step
    calls) give CpuOps's bits."""
    x, dy, g, b, mm, mv = data((130, 9), np.float32, "C")
    n, c = x.shape
    mm_ops, mv_ops = mm.copy(), mv.copy()
    y_ops, mean_ops, var_ops = CPU.batch_norm_train(x, g, b, mm_ops, mv_ops, 0.99, 1e-3)
    dg_ops, db_ops = np.empty(c, np.float32), np.empty(c, np.float32)
    dx_ops = CPU.backprop_batch_norm(dy, x, g, mean_ops, var_ops, 1e-3, dg_ops, db_ops)
    f, nb = np.float32, K_bn.n_blocks(n)
    vec = [np.empty(c, np.float32) for _ in range(8)]
    mean, var, scale, shift, inv, a, mb, k = vec
    p1, p2, s1, s2 = np.empty((nb, c)), np.empty((nb, c)), np.empty(c), np.empty(c)
    y, dx, dg, db = np.empty_like(x), np.empty_like(x), np.empty(c, f), np.empty(c, f)
    K_bn.train_forward(x, g, b, f(1e-3), mm, mv, f(0.99), f(1 - 0.99), True, y, mean, var,
                       scale, shift, p1, p2, s1, s2)
    K_bn.train_backward(dy, x, g, mean, var, f(1e-3), dg, db, dx, True, inv, p1, p2, s1, s2,
                        a, mb, k)
    for got, want in ((y, y_ops), (mean, mean_ops), (var, var_ops), (mm, mm_ops),
                      (mv, mv_ops), (dx, dx_ops), (dg, dg_ops), (db, db_ops)):
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def force_parallel(monkeypatch):
    monkeypatch.setattr(cpu_ops, "PAR_MIN", 1)
    yield
    fastff.set_num_threads(_threading.default_num_threads())


def test_bitwise_equal_across_thread_counts(force_parallel, monkeypatch):
    if _threading.default_num_threads() < 2:
        pytest.skip("needs 2 CPUs")
    args = data((203, 7), np.float32, "C")
    fastff.set_num_threads(1)
    one = run_all(CPU, *args)
    fastff.set_num_threads(2)
    two = run_all(CPU, *args)
    monkeypatch.setattr(cpu_ops, "PAR_MIN", 1 << 62)
    serial = run_all(CPU, *args)
    for a, b, s in zip(one, two, serial):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("kwargs", [{"center": False, "scale": False}, {}])
def test_batchnorm_grads_across_blocks(kwargs):
    """check_grads in training mode on more rows than one statistics block."""
    x = np.random.default_rng(5).standard_normal((70, 3)) * 2 + 1
    check_grads(keras.layers.BatchNormalization(**kwargs), x, training=True, eps=1e-5,
                tol=1e-5)


def test_layernorm_grads_long_rows():
    """Rows longer than the 8-way partial sums, with a tail."""
    x = np.random.default_rng(6).standard_normal((3, 19))
    check_grads(keras.layers.LayerNormalization(), x, eps=1e-5, tol=1e-5)
    check_grads(keras.layers.LayerNormalization(rms_scaling=True), x, eps=1e-5, tol=1e-5)
