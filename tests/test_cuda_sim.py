"""CudaOps against NumpyOps, run under the CUDA simulator (or a real GPU on request).

The simulator must be switched on before Numba is imported, so in a normal ``pytest`` run this
module collects a single test that re-runs the module in a fresh Python process with
``NUMBA_ENABLE_CUDASIM=1`` (one process for all the simulator modules, tests/_cudasim.py);
there (or whenever the simulator is already on) the kernel tests below are collected instead.
``FASTFF_TEST_CUDA=1`` on a machine with a GPU runs the same tests on the real device
in-process. Shapes are tiny (1-4 blocks: the simulator runs each
thread as a Python thread) but cross the GEMM tile edges.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
REAL = os.environ.get("FASTFF_TEST_CUDA", "0") not in ("", "0") and not SIM
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
INNER_TIMEOUT = 600
PTX_SKIP = 77  # exit status of the PTX check when NVVM/NVRTC are not installed

if not (SIM or REAL):

    def test_import_fastff_does_not_load_cuda():
        code = ("import sys, fastff, fastff.backend, fastff.backend.cuda; "
                "assert 'numba.cuda' not in sys.modules, 'numba.cuda imported'")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

    @pytest.mark.skipif(not HAVE_NUMBA_CUDA,
                        reason="numba-cuda not installed (pip install 'fastff[cuda]')")
    def test_cuda_kernels_on_simulator(request):
        """Runs this module's kernel tests in a subprocess with the CUDA simulator on (one
        process for the session's simulator modules, tests/_cudasim.py)."""
        from tests._cudasim import module_report  # here: ``--ptx`` runs this file as a script

        print(module_report(request, __file__))

    @pytest.mark.skipif(not HAVE_NUMBA_CUDA,
                        reason="numba-cuda not installed (pip install 'fastff[cuda]')")
    def test_cuda_kernels_compile_to_ptx():
        """Every kernel through the real compiler (NVVM, sm_90 PTX), no GPU needed: catches
        what the simulator cannot (typing and lowering of device code)."""
        env = dict(os.environ)
        env.pop("NUMBA_ENABLE_CUDASIM", None)
        proc = subprocess.run([sys.executable, __file__, "--ptx"], env=env, capture_output=True,
                              text=True, timeout=INNER_TIMEOUT)
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode == PTX_SKIP:
            pytest.skip(out.splitlines()[-1])
        assert proc.returncode == 0, "\n".join(out.splitlines()[-40:])

else:
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda not installed (pip install 'fastff[cuda]')",
                    allow_module_level=True)

    from fastff.backend.cuda import device_info, is_available, make_ops
    from fastff.backend.cuda import gemm as K_gemm
    from fastff.backend.numpy_ops import NumpyOps

    if REAL and not is_available():
        pytest.skip("FASTFF_TEST_CUDA=1 but no usable CUDA GPU", allow_module_level=True)

    # splitmix64 wraps uint64 multiplies on purpose; the simulator runs them in NumPy scalars
    pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

    REF = NumpyOps()
    DTYPES = (np.float64, np.float32)
    # On a GPU, fused multiply-adds and other summation orders change the last bits.
    TOL = {np.float64: 1e-10, np.float32: 2e-5}

    @pytest.fixture(scope="module")
    def ops():
        return make_ops()

    def close(got, want, dt, scale=1.0):
        got = got.copy_to_host() if hasattr(got, "copy_to_host") else np.asarray(got)
        want = np.asarray(want)
        assert got.shape == want.shape
        assert got.dtype == want.dtype or want.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=TOL[dt] * scale, atol=TOL[dt] * scale)

    def rand(rng, shape, dt, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dt)

    # ------------------------------------------------------------------ basics
    def test_available_and_info():
        assert is_available(allow_simulator=True)
        assert is_available() is (not SIM)
        info = device_info()
        assert info["available"] is True and info["name"]

    def test_device_selection_helpers():
        from fastff import backend
        from fastff.backend.cuda import auto_device, device_summary, require_device

        assert auto_device() == ("cpu" if SIM else "cuda")  # auto never picks the simulator
        assert require_device() == "cuda"
        assert "simulator" in device_summary() or "GiB" in device_summary()
        try:
            assert backend.set_device("cuda") == "cuda"
            assert backend.get_ops().name == "cuda"
            assert backend.set_device("auto") == auto_device()
        finally:
            backend.set_device("cpu")

    def test_ops_covers_the_reference_contract(ops):
        public = {n for n in dir(REF) if not n.startswith("_")} - {"xp"}
        missing = sorted(n for n in public if not hasattr(ops, n))
        assert not missing

    def test_device_and_host_modes(ops):
        x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
        d = ops.to_device(x)
        y = ops.activation("relu", d)
        assert ops.is_device_array(y)  # device in, device out
        np.testing.assert_array_equal(ops.to_numpy(y), np.maximum(x, 0))
        yh = ops.activation("relu", x)  # host in, host out
        assert isinstance(yh, np.ndarray)
        out = np.empty_like(x)
        assert ops.activation("relu", d, out=out) is out  # host out filled from device
        np.testing.assert_array_equal(out, yh)
        z = ops.alloc((3, 2), np.float64)
        assert ops.to_numpy(z).dtype == np.float64 and not ops.to_numpy(z).any()

    # -------------------------------------------------------------------- GEMM
    @pytest.mark.parametrize("mnk", [(1, 1, 1), (5, 7, 3), (17, 33, 20)])
    @pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True), (True, True)])
    def test_gemm_tiny_tile_epilogue(mnk, trans):
        ops = make_ops(gemm_config="tiny")
        rng = np.random.default_rng(sum(mnk))
        m, n, k = mnk
        ta, tb = trans
        dt = np.float64 if mnk != (17, 33, 20) or ta else np.float32
        a = rand(rng, (k, m) if ta else (m, k), dt)
        b = rand(rng, (n, k) if tb else (k, n), dt)
        c0 = rand(rng, (m, n), dt)
        bias = rand(rng, (n,), dt)
        kw = dict(trans_a=ta, trans_b=tb, alpha=0.5, beta=1.5, bias=bias, activation="tanh")
        want = REF.gemm(a, b, c0.copy(), **kw)
        got = ops.to_device(c0)
        ops.gemm(ops.to_device(a), ops.to_device(b), got, **kw)
        close(got, want, dt)

    @pytest.mark.parametrize("cfg,trans", [("small", (False, True)), ("small", (True, False)),
                                           ("large", (False, False)), ("large", (True, True)),
                                           ("narrow", (True, False))])
    def test_gemm_production_tiles(cfg, trans):
        ops = make_ops(gemm_config=cfg)
        rng = np.random.default_rng(7)
        m, n, k = 17, 33, 9
        ta, tb = trans
        a = rand(rng, (k, m) if ta else (m, k), np.float32)
        b = rand(rng, (n, k) if tb else (k, n), np.float32)
        bias = rand(rng, (n,), np.float32)
        kw = dict(trans_a=ta, trans_b=tb, bias=bias, activation="relu")
        close(ops.gemm(a, b, **kw), REF.gemm(a, b, **kw), np.float32)

    def test_gemm_config_choice():
        assert K_gemm.choose_config(4096, 4096, 132) == K_gemm.CONFIGS["large"]
        assert K_gemm.choose_config(1024, 256, 132) == K_gemm.CONFIGS["small"]
        assert K_gemm.choose_config(128, 256, 132) == K_gemm.CONFIGS["narrow"]
        assert K_gemm.choose_config(128, 256, 0) == K_gemm.CONFIGS["tiny"]

    def test_gemm_unfused_activation_and_shape_check(ops):
        rng = np.random.default_rng(1)
        a, b = rand(rng, (3, 4), np.float64), rand(rng, (4, 5), np.float64)
        close(ops.gemm(a, b, activation="softmax"), REF.gemm(a, b, activation="softmax"),
              np.float64)
        with pytest.raises(ValueError):
            ops.gemm(a, a)

    @pytest.mark.parametrize("dt", DTYPES)
    def test_dense_and_backprop_dense(ops, dt):
        rng = np.random.default_rng(2)
        x, w, b = rand(rng, (6, 5), dt), rand(rng, (5, 9), dt), rand(rng, (9,), dt)
        y = REF.dense(x, w, b, "sigmoid")
        close(ops.dense(ops.to_device(x), ops.to_device(w), ops.to_device(b), "sigmoid"), y, dt)
        dy = rand(rng, y.shape, dt)
        got = [np.zeros_like(w), np.zeros_like(b)]
        want = [np.zeros_like(w), np.zeros_like(b)]
        dx = ops.backprop_dense(dy, x, w, got[0], got[1], activation="sigmoid", y=y)
        dx_ref = REF.backprop_dense(dy, x, w, want[0], want[1], activation="sigmoid", y=y)
        for g, r in zip([*got, dx], [*want, dx_ref]):
            close(g, r, dt)
        assert ops.backprop_dense(dy, x, w, got[0], None, dx=False) is None

    # ------------------------------------------------------------- activations
    from fastff.backend import spec

    # every elementwise activation of the spec table (swish is silu's second name)
    ELEMENTWISE = [n for n in spec.NAMES if n not in spec.ROWWISE and n not in ("linear", "swish")]

    @pytest.mark.parametrize("dt", DTYPES)
    def test_activations_forward_backward(ops, dt):
        rng = np.random.default_rng(3)
        x = rand(rng, (4, 7), dt, 2.0)
        dy = rand(rng, x.shape, dt)
        names = ELEMENTWISE + ["softmax", "log_softmax"]
        if dt == np.float32:
            names = ["relu", "gelu", "sigmoid", "softmax"]
        for name in names:
            y = REF.activation(name, x, param=0.3)
            close(ops.activation(name, ops.to_device(x), param=0.3), y, dt, 4)
            want = REF.backprop_activation(name, dy, x, y, param=0.3)
            got = ops.backprop_activation(name, ops.to_device(dy), ops.to_device(x),
                                          ops.to_device(y), param=0.3)
            close(got, want, dt, 4)

    def test_backprop_activation_from_input_only(ops):
        rng = np.random.default_rng(4)
        x, dy = rand(rng, (3, 5), np.float64), rand(rng, (3, 5), np.float64)
        close(ops.backprop_activation("tanh", dy, x, None),
              REF.backprop_activation("tanh", dy, x, None), np.float64)

    # ------------------------------------------------------------------ losses
    @pytest.mark.parametrize("dt", DTYPES)
    def test_softmax_losses(ops, dt):
        rng = np.random.default_rng(5)
        z = rand(rng, (6, 37), dt, 3.0)
        z[0, 0] = 1000  # stability: huge logits stay finite
        z[1, :] = -1000
        lab = rng.integers(0, 37, 6)
        w = rng.random(6)
        for sw in (None, w):
            loss, g = ops.softmax_xent_sparse(ops.to_device(z), lab, sw)
            rl, rg = REF.softmax_xent_sparse(z, lab, sw)
            close(loss, rl, dt, 10)
            close(g, rg, dt)
        t = rng.random((6, 37)).astype(dt)
        for got, want in zip(ops.softmax_xent(z, t, w), REF.softmax_xent(z, t, w)):
            close(got, want, dt, 100)
        tb = (rng.random((6, 37)) > 0.5).astype(dt)
        for got, want in zip(ops.sigmoid_bce(z, tb, w), REF.sigmoid_bce(z, tb, w)):
            close(got, want, dt, 10)
        for sw in (None, w):
            for got, want in zip(ops.mse(ops.to_device(z), t, sw), REF.mse(z, t, sw)):
                close(got, want, dt, 10)

    def test_sparse_labels_out_of_range(ops):
        with pytest.raises(ValueError, match="outside"):
            ops.softmax_xent_sparse(np.zeros((2, 3)), np.array([0, 3]))

    # ----------------------------------------------------- dropout, reductions
    @pytest.mark.parametrize("dt", DTYPES)
    def test_dropout_mask_bit_for_bit(ops, dt):
        for rate, seed, counter in ((0.3, 42, 0), (0.5, 7, 123456789), (0.0, 1, 2)):
            got = ops.to_numpy(ops.dropout_mask((3, 11), rate, seed, counter, dt))
            want = REF.dropout_mask((3, 11), rate, seed, counter, dt)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)

    @pytest.mark.parametrize("shape", [(1, 1), (33, 17), (5, 40)])
    def test_bias_grad_and_norms(ops, shape):
        rng = np.random.default_rng(6)
        for dt in DTYPES:
            dy = rand(rng, shape, dt)
            close(ops.bias_grad(ops.to_device(dy)), REF.bias_grad(dy), dt, 10)
        d64 = rand(rng, shape, np.float64)
        assert ops.sq_norm(ops.to_device(d64)) == pytest.approx(REF.sq_norm(d64), rel=1e-12)
        arrays = [d64, d64[:1], np.zeros(0)]
        assert ops.global_norm(arrays) == pytest.approx(REF.global_norm(arrays), rel=1e-12)

    # --------------------------------------------------------- optimizer steps
    def _run_steps(o, step, dt, rng_seed, device):
        rng = np.random.default_rng(rng_seed)
        n = 45
        p = np.linspace(-1, 1, n).astype(dt)
        g = rand(rng, n, dt)
        bufs = [np.zeros(n, dt) for _ in range(3)]
        bufs[0][::3] = 1e-31  # moments that must flush to zero
        if device:
            p, g, bufs = o.to_device(p), o.to_device(g), [o.to_device(b) for b in bufs]
        for it in range(1, 3):
            if step == "sgd":
                o.sgd_step(p, g, bufs[0], 0.1, 0.9, True, weight_decay=0.01)
            elif step == "sgd_plain":
                o.sgd_step(p, g, None, 0.1, clipvalue=0.5)
            elif step == "adam":
                o.adam_step(p, g, bufs[0], bufs[1], bufs[2], 0.1, step=it, amsgrad=True,
                            clipvalue=0.5, weight_decay=0.004)
            elif step == "rmsprop":
                o.rmsprop_step(p, g, bufs[0], bufs[1], bufs[2], 0.1, momentum=0.5,
                               centered=True)
            else:
                o.adagrad_step(p, g, bufs[0], 0.1, grad_scale=0.5)
        return [o.to_numpy(a) for a in (p, *bufs)]

    @pytest.mark.parametrize("step", ["sgd", "sgd_plain", "adam", "rmsprop", "adagrad"])
    def test_optimizer_steps(ops, step):
        for dt in DTYPES:
            got = _run_steps(ops, step, dt, 8, device=step != "adagrad")  # adagrad: host mode
            want = _run_steps(REF, step, dt, 8, device=False)
            for a, b in zip(got, want):
                close(a, b, dt, 10)

    @pytest.mark.parametrize("name", ["adamax", "nadam", "adadelta", "lion", "ftrl"])
    def test_packed_optimizer_steps_of_the_newer_optimizers(ops, name):
        from fastff import optimizers as O
        from fastff.backend.numpy_ops import flush_threshold

        for dt in DTYPES:
            outs = []
            for o, device in ((ops, True), (REF, False)):
                opt = O.get({"class_name": name, "config": {"clipvalue": 0.5}})
                rng = np.random.default_rng(3)
                n = 45
                p = np.linspace(-1, 1, n).astype(dt)
                bufs = {k: np.full(n, opt._buffer_init(k), dt) for k in opt._buffer_names()}
                g = rand(rng, n, dt)
                if device:
                    p, g = o.to_device(p), o.to_device(g)
                    bufs = {k: o.to_device(v) for k, v in bufs.items()}
                for it in range(2):
                    opt.iterations = it
                    code, state, consts = opt._pack(bufs, np.dtype(dt))
                    rate, wdlr = opt.step_scalars(it, 0.1)
                    o.optimizer_step(code, p, g, state, consts, rate, 0.01, 0.5)
                assert consts[1] == flush_threshold(dt)
                outs.append([o.to_numpy(a) for a in (p, *bufs.values())])
            for a, b in zip(*outs):
                close(a, b, dt, 10)

    # --------------------------------------------------------------- embedding
    @pytest.mark.parametrize("dt", DTYPES)
    def test_embedding_gather(ops, dt):
        rng = np.random.default_rng(9)
        table = rand(rng, (10, 6), dt)
        ids = np.array([[3, 0], [3, 9]])
        for pad in (-1, 0):
            close(ops.embedding_gather(ops.to_device(table), ids, pad),
                  REF.embedding_gather(table, ids, pad), dt)
        dy = rand(rng, (4, 6), dt)
        got = ops.to_device(np.full_like(table, 5.0))
        want = np.full_like(table, 5.0)
        rows = ops.backprop_embedding_gather(ops.to_device(dy), ids, got, 0)
        np.testing.assert_array_equal(rows, REF.backprop_embedding_gather(dy, ids, want, 0))
        close(got, want, dt)
        # sparse clearing: only the rows touched last time are zeroed first (host mode)
        got, want = ops.to_numpy(got), want.copy()
        ids2 = np.array([1, 1, 2, 9])
        r1 = ops.backprop_embedding_gather(dy, ids2, got, -1, prev_rows=rows)
        r2 = REF.backprop_embedding_gather(dy, ids2, want, -1, prev_rows=rows)
        np.testing.assert_array_equal(r1, r2)
        close(got, want, dt)

    @pytest.mark.parametrize("dt", DTYPES)
    def test_embedding_bag(ops, dt):
        rng = np.random.default_rng(12)
        table = rand(rng, (10, 5), dt)
        bags = np.array([[1, 2, 0], [0, 0, 0], [4, 4, 7]])
        dy = rand(rng, (3, 5), dt)
        for mode in ("mean", "sum"):
            close(ops.embedding_bag(table, bags, 0, mode), REF.embedding_bag(table, bags, 0, mode),
                  dt)
            got, want = np.ones_like(table), np.ones_like(table)
            r1 = ops.backprop_embedding_bag(ops.to_device(dy), bags, got, 0, mode)
            r2 = REF.backprop_embedding_bag(dy, bags, want, 0, mode)
            np.testing.assert_array_equal(r1, r2)
            close(got, want, dt)

    # ------------------------------------------------------------ model level
    def _mlp_steps(o, optimizer, device):
        """Two training steps of a 5-8-3 MLP (relu, softmax xent) written with Ops calls."""
        rng = np.random.default_rng(10)
        dt = np.float32
        x, lab = rand(rng, (8, 5), dt), rng.integers(0, 3, 8)
        w1, b1 = rand(rng, (5, 8), dt, 0.5), np.zeros(8, dt)
        w2, b2 = rand(rng, (8, 3), dt, 0.5), np.zeros(3, dt)
        sizes = [w1.size, b1.size, w2.size, b2.size]
        params = np.concatenate([w1.ravel(), b1, w2.ravel(), b2])
        offs = [int(v) for v in np.cumsum([0, *sizes])]
        slots = [np.zeros_like(params) for _ in range(3)]
        put = o.to_device if device else (lambda a: a)
        params, grads, x = put(params), put(np.zeros_like(params)), put(x)
        slots = [put(s) for s in slots]

        def view(buf, i, shape):
            return buf[offs[i]:offs[i + 1]].reshape(shape)

        shapes = [(5, 8), (8,), (8, 3), (3,)]
        for it in range(1, 3):
            pw = [view(params, i, s) for i, s in enumerate(shapes)]
            gw = [view(grads, i, s) for i, s in enumerate(shapes)]
            h = o.dense(x, pw[0], pw[1], "relu")
            z = o.dense(h, pw[2], pw[3], "linear")
            loss, dz = o.softmax_xent_sparse(z, lab)
            dh = o.backprop_dense(dz, h, pw[2], gw[2], gw[3])
            o.backprop_dense(dh, x, pw[0], gw[0], gw[1], dx=False, activation="relu", y=h)
            if optimizer == "sgd":
                o.sgd_step(params, grads, slots[0], 0.1, 0.9)
            else:
                o.adam_step(params, grads, slots[0], slots[1], None, 0.01, step=it)
        return o.to_numpy(params), o.to_numpy(loss)

    @pytest.mark.parametrize("optimizer", ["sgd", "adam"])
    def test_mlp_training_steps_match_numpy(ops, optimizer):
        got = _mlp_steps(ops, optimizer, device=True)
        want = _mlp_steps(REF, optimizer, device=False)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)

    def test_sequential_fit_with_cuda_ops(ops):
        """A tiny ``fit`` with the model's ops overridden (host buffers: CudaOps host mode)."""
        from fastff.layers import Dense
        from fastff.models import Sequential

        rng = np.random.default_rng(11)
        x, y = rand(rng, (16, 4), np.float32), rng.integers(0, 3, 16)
        results = []
        for o in (REF, ops):
            model = Sequential([Dense(6, activation="tanh", input_shape=(4,)),
                                Dense(3, activation="softmax")])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            w0 = [np.linspace(-0.5, 0.5, w.size, dtype=np.float32).reshape(w.shape)
                  for w in model.get_weights()]
            model.set_weights(w0)
            model.ops = o
            hist = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            results.append((hist.history["loss"], model.get_weights()))
        np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
        for g, w in zip(results[1][1], results[0][1]):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- PTX compile check (script)
def _ptx_check(cc: tuple[int, int] = (9, 0)) -> int:
    """Compile every CudaOps kernel to PTX for ``cc`` without a GPU; returns an exit status.

    Device functions are compiled for the current device's compute capability, which needs a
    driver; the check stands in a fixed one. float32 everywhere, float64 for a sample.
    """
    import types as pytypes

    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda
    from numba import types as T

    from fastff.backend.cuda import (
        activations,
        dropout,
        elementwise,
        embedding,
        gemm,
        optimizers,
        reductions,
        softmax,
    )

    cuda_dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=cc)

    def sigs(name):
        dt = getattr(T, name)
        npdt = np.dtype(name)
        a1, a2 = T.Array(dt, 1, "C"), T.Array(dt, 2, "C")
        i1, i2, f1 = T.Array(T.int64, 1, "C"), T.Array(T.int64, 2, "C"), T.float64[::1]
        out = [(f"gemm_{c}", gemm.kernel(npdt, cfg), (a2, a2, a2, T.boolean, T.boolean, dt, dt,
                                                      a1, T.boolean, T.int64, dt))
               for c, cfg in gemm.CONFIGS.items() if c != "tiny"]  # tiny: simulator only
        fw, bw = activations.kernels(npdt)
        sm = softmax.kernels(npdt)
        loss = (a2, i1, a1, T.boolean, dt, a1, a2)
        out += [
            ("act_forward", fw, (a1, a1, T.int64, dt)),
            ("act_backward", bw, (a1, a1, a1, a1, T.int64, dt)),
            ("softmax", sm["softmax"], (a2, a2, T.boolean)),
            ("softmax_backward", sm["backward"], (a2, a2, a2, T.boolean)),
            ("xent_sparse", sm["xent_sparse"], loss),
            ("xent", sm["xent"], (a2, a2) + loss[2:]),
            ("sigmoid_bce", sm["sigmoid_bce"], (a2, a2) + loss[2:]),
            ("mse", sm["mse"], (a2, a2) + loss[2:]),
            ("col_sums", reductions.col_sums_kernel(npdt), (a2, a1)),
            ("act_backward_col_sums", reductions.act_backward_col_sums_kernel(npdt),
             (a2, a2, a2, a1, T.int64, dt)),
            ("sq_norm_partials", reductions.sq_norm_partials, (a1, f1)),
            ("sum_partials", reductions.sum_partials, (f1, f1, T.int64)),
            ("dropout", dropout.mask, (a1, T.uint64, T.uint64, dt, dt)),
            ("fill", elementwise.fill, (a1, dt)),
            ("mul", elementwise.mul, (a1, a1, a1)),
            ("put_cols", elementwise.put_cols, (a2, a2, T.int64)),
            ("take_cols", elementwise.take_cols, (a2, a2, T.int64)),
            ("sgd", optimizers.sgd, (a1, a1, a1, dt, dt, T.boolean, dt, dt, dt, dt)),
            ("adagrad", optimizers.adagrad, (a1, a1, a1) + (dt,) * 5),
            ("rmsprop", optimizers.rmsprop, (a1,) * 5 + (dt,) * 9),
            ("adam", optimizers.adam, (a1,) * 5 + (dt,) * 8),
            ("adamax", optimizers.adamax, (a1,) * 4 + (dt,) * 8),
            ("nadam", optimizers.nadam, (a1,) * 4 + (dt,) * 11),
            ("adadelta", optimizers.adadelta, (a1,) * 4 + (dt,) * 8),
            ("lion", optimizers.lion, (a1,) * 3 + (dt,) * 9),
            ("ftrl", optimizers.ftrl, (a1,) * 4 + (dt,) * 9),
            ("gather_rows", embedding.gather_rows, (a2, i1, a2, T.int64, dt)),
            ("scatter_add_rows", embedding.scatter_add_rows, (a2, i1, a2, T.int64)),
            ("clear_rows", embedding.clear_rows, (a2, i1, dt)),
            ("bag", embedding.bag, (a2, i2, a2, T.int64, T.boolean, dt)),
            ("bag_backward", embedding.bag_backward, (a2, i2, a2, T.int64, T.boolean, dt)),
        ]
        if name == "float32":
            return out
        sample = {"act_forward", "xent_sparse", "act_backward_col_sums", "adam"}
        return [o for o in out if o[0].startswith("gemm") or o[0] in sample]

    try:
        cuda.compile_ptx(elementwise.fill.py_func, (T.float32[::1], T.float32), cc=cc)
    except Exception as exc:  # noqa: BLE001 - the toolchain is optional
        print(f"NVVM/NVRTC not available ({exc.__class__.__name__}); "
              "pip install 'numba-cuda[cu13]' (or [cu12]) to compile kernels without a GPU")
        return PTX_SKIP
    failed = 0
    for dtname in ("float32", "float64"):
        for name, kern, sig in sigs(dtname):
            t0 = time.perf_counter()
            try:
                ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=cc)
                spills = ptx.count("ld.local") + ptx.count("st.local")
                print(f"{dtname:8s} {name:18s} ok {time.perf_counter() - t0:5.2f} s"
                      f"  local-memory ops {spills}")
            except Exception as exc:  # noqa: BLE001 - report every failure
                failed += 1
                print(f"{dtname:8s} {name:18s} FAILED {exc.__class__.__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__" and "--ptx" in sys.argv:
    sys.exit(_ptx_check())
