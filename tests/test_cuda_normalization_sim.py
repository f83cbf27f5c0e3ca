"""CudaOps normalization kernels against NumpyOps under the CUDA simulator.

Like ``test_cuda_sim.py``: a plain pytest run re-runs this module in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``, where the kernel tests below are collected. Tiny odd shapes.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from tests._cudasim import module_report

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

if not SIM:

    @pytest.mark.skipif(not HAVE_NUMBA_CUDA, reason="numba-cuda not installed")
    def test_normalization_kernels_on_simulator(request):
        """Runs this module's tests in a subprocess with the CUDA simulator on (one process
        for the session's simulator modules, tests/_cudasim.py)."""
        print(module_report(request, __file__))


else:
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda not installed", allow_module_level=True)
    from fastff.backend.cuda import make_ops
    from fastff.backend.numpy_ops import NumpyOps

    REF = NumpyOps()
    OPS = make_ops()
    TOL = {np.float64: 1e-10, np.float32: 2e-5}
    SHAPES = [(5, 3)]  # the simulator runs ~1 s per kernel launch: one odd shape per case

    def close(got, want, dt):
        got = OPS.to_numpy(got)
        assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=TOL[dt], atol=TOL[dt])

    def data(shape, dt, seed=0):
        rng = np.random.default_rng(seed + shape[0])
        n, c = shape
        return [(rng.standard_normal(s) * 1.5 + 0.3).astype(dt)
                for s in ((n, c), (n, c), (c,), (c,))]

    @pytest.mark.parametrize("dt", [np.float64, np.float32])
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("affine", [True, False])
    def test_batch_norm(dt, shape, affine):
        x, dy, g, b = data(shape, dt)
        g, b = (g, b) if affine else (None, None)
        mean, var = REF.batch_norm_stats(x)
        dm, dv = OPS.batch_norm_stats(OPS.to_device(x))
        close(dm, mean, dt)
        close(dv, var, dt)
        y = REF.batch_norm(x, g, b, mean, var, 1e-3)
        close(OPS.batch_norm(OPS.to_device(x), g, b, dm, dv, 1e-3), y, dt)
        out = np.empty_like(x)
        assert OPS.batch_norm(x, g, b, mean, var, 1e-3, out=out) is out
        close(out, y, dt)
        for stats in (True, False):
            rg, rb = np.zeros(shape[1], dt), np.zeros(shape[1], dt)
            rdx = REF.backprop_batch_norm(dy, x, g, mean, var, 1e-3, rg, rb, None, stats)
            cg, cb = np.zeros(shape[1], dt), np.zeros(shape[1], dt)
            cdx = OPS.backprop_batch_norm(dy, x, g, mean, var, 1e-3, cg, cb, None, stats)
            close(cdx, rdx, dt)
            close(cg, rg, dt)
            close(cb, rb, dt)
        assert OPS.backprop_batch_norm(dy, x, g, mean, var, 1e-3, None, None, False) is None

    def test_batch_norm_train():
        dt = np.float32
        x, _, g, b = data(SHAPES[0], dt, 2)
        rm, rv = g.copy(), np.abs(b) + 0.5
        cm, cv = rm.copy(), rv.copy()
        y, mean, var = REF.batch_norm_train(x, g, b, rm, rv, 0.9, 1e-3)
        out = np.empty_like(x)
        cy, dm, dv = OPS.batch_norm_train(x, g, b, cm, cv, 0.9, 1e-3, out=out)
        assert cy is out
        for got, want in ((cy, y), (dm, mean), (dv, var), (cm, rm), (cv, rv)):
            close(got, want, dt)

    @pytest.mark.parametrize("dt", [np.float64, np.float32])
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("rms", [False, True])
    def test_layer_norm(dt, shape, rms):
        x, dy, g, b = data(shape, dt, 1)
        for gg, bb in ((g, b), (None, None)):
            y, mean, inv = REF.layer_norm(x, gg, bb, 1e-3, rms)
            dy_, dm, di = OPS.layer_norm(OPS.to_device(x), gg, bb, 1e-3, rms)
            close(dy_, y, dt)
            close(dm, mean, dt)
            close(di, inv, dt)
            rg, rb = np.zeros(shape[1], dt), np.zeros(shape[1], dt)
            rdx = REF.backprop_layer_norm(dy, x, gg, mean, inv, rg, rb, None, rms)
            cg, cb = np.zeros(shape[1], dt), np.zeros(shape[1], dt)
            cdx = OPS.backprop_layer_norm(dy, x, gg, mean, inv, cg, cb, None, rms)
            close(cdx, rdx, dt)
            close(cg, rg, dt)
            close(cb, rb, dt)

    def test_nan_propagates():
        x = np.ones((3, 2))
        x[1, 0] = np.nan
        m, v = OPS.batch_norm_stats(x)
        assert np.isnan(m[0]) and np.isnan(v[0]) and np.isfinite(m[1])
        y, _, _ = OPS.layer_norm(x, None, None, 1e-3)
        assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()
