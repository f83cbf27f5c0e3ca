"""Device-resident training (``Sequential(..., device="cuda")``) under the CUDA simulator.

As in ``test_cuda_sim.py``, the simulator must be on before Numba is imported: a normal run
collects one test that re-runs this module in a fresh process with ``NUMBA_ENABLE_CUDASIM=1``.
There, tiny models (4-5-3, 8 rows in batches of 4) are trained on CudaOps and checked against
NumpyOps, and host<->device copies are counted by wrapping the simulator's transfer functions.
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

    @pytest.mark.skipif(not HAVE_NUMBA_CUDA,
                        reason="numba-cuda not installed (pip install 'fastff[cuda]')")
    def test_device_fit_on_simulator(request):
        """Runs this module's tests in a subprocess with the CUDA simulator on (one process
        for the session's simulator modules, tests/_cudasim.py)."""
        print(module_report(request, __file__))


else:
    from numba import cuda
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    from fastff import backend, callbacks, get_device
    from fastff.backend.cpu_ops import CpuOps
    from fastff.backend.cuda.ops import CudaOps
    from fastff.layers import Dense, Dropout, Flatten
    from fastff.layers.base import is_device_array
    from fastff.models import Sequential, load_model

    # the simulator runs the dropout hash's wrapping uint64 multiplies in NumPy scalars
    pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
    NUMPY = backend.get_ops("numpy")

    class Transfers:
        """Counts host->device (``cuda.to_device``, ``copy_to_device``) and device->host
        (``copy_to_host``) copies, with the element count of each."""

        def __init__(self, monkeypatch):
            self.up: list[int] = []
            self.down: list[int] = []
            to_device, to_host = cuda.to_device, FakeCUDAArray.copy_to_host
            copy_to_device = FakeCUDAArray.copy_to_device

            def up(ary, *a, **k):
                self.up.append(int(np.size(ary)))
                return to_device(ary, *a, **k)

            def up_into(arr, ary, *a, **k):
                self.up.append(int(np.size(ary)))
                return copy_to_device(arr, ary, *a, **k)

            def down(arr, *a, **k):
                self.down.append(int(arr.size))
                return to_host(arr, *a, **k)

            monkeypatch.setattr(cuda, "to_device", up)
            monkeypatch.setattr(FakeCUDAArray, "copy_to_device", up_into)
            monkeypatch.setattr(FakeCUDAArray, "copy_to_host", down)

        def mark(self) -> tuple[int, int]:
            return len(self.up), len(self.down)

    def _data(n=8, seed=3):
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)

    def _mlp(device=None, dropout=False, flatten=False):
        layers = [Dense(5, activation="tanh", input_shape=(4,))]
        layers += [Dropout(0.25, seed=7)] if dropout else []
        layers += [Flatten()] if flatten else []
        layers += [Dense(3, activation="softmax")]
        model = Sequential(layers, device=device)
        model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype=np.float32).reshape(w.shape)
                           for w in model.get_weights()])
        return model

    def _pair(compile_kw, **kw):
        dev, ref = _mlp("cuda", **kw), _mlp(**kw)
        ref.ops = NUMPY
        for m in (dev, ref):
            m.compile(**compile_kw)
            m._shuffle_seed = 5
        return dev, ref

    @pytest.mark.parametrize("case", ["adam_xent", "sgd_mse_dropout_shuffle"])
    def test_fit_on_device_matches_numpy(case):
        x, y = _data()
        if case == "adam_xent":
            dev, ref = _pair(dict(optimizer="adam", loss="sparse_categorical_crossentropy",
                                  metrics=["accuracy"]))
            fit_kw = dict(batch_size=4, epochs=1, shuffle=False, verbose=0)
        else:
            dev, ref = _pair(dict(optimizer="sgd", loss="mse", metrics=["mae"]),
                             dropout=True, flatten=True)
            y = np.eye(3, dtype=np.float32)[y]
            fit_kw = dict(batch_size=4, epochs=1, shuffle=True, verbose=0)
        h_dev = dev.fit(x, y, **fit_kw).history
        h_ref = ref.fit(x, y, **fit_kw).history
        for k in h_ref:
            np.testing.assert_allclose(h_dev[k], h_ref[k], rtol=1e-5, atol=1e-6)
        for g, w in zip(dev.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        p = dev.predict(x, verbose=0)
        assert type(p) is np.ndarray
        np.testing.assert_allclose(p, ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dev.evaluate(x, y, verbose=0),
                                   ref.evaluate(x, y, verbose=0), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("resident", [True, False])
    def test_buffers_stay_on_device_and_copies_per_batch(monkeypatch, resident):
        x, y = _data()
        model = _mlp("cuda")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        if not resident:  # the driver cannot tell the free memory: batches go up one by one
            monkeypatch.setattr(CudaOps, "free_memory", staticmethod(lambda: None))
        t = Transfers(monkeypatch)
        seen, per_batch = [], []

        def begin(batch, logs):
            seen.append(t.mark())

        def end(batch, logs):
            opt = model.optimizer
            assert is_device_array(model.params) and is_device_array(model.grads)
            assert all(is_device_array(b) for b in opt._buffers.values())
            assert all(is_device_array(p.value) for p in model.weights)
            u0, d0 = seen[-1]
            per_batch.append((t.up[u0:], t.down[d0:]))

        cb = callbacks.LambdaCallback(on_train_batch_begin=begin, on_train_batch_end=end)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0, callbacks=[cb])
        assert len(per_batch) == 4  # 2 batches x 2 epochs
        n_params = model.params.size
        for ups, downs in per_batch:
            if resident:
                assert ups == []  # the training set went up before the epoch
            else:
                assert sorted(ups) == [4, 16]  # this batch's labels and rows, once each
            # per batch: the per-row losses and the predictions (for the metric), no weights
            assert sorted(downs) == [4, 12]
            assert all(d < n_params for d in downs)
        # the weights never came down during fit; now they do, once per get_weights array
        u, d = t.mark()
        w = model.get_weights()
        assert len(t.down) - d == len(w) and all(type(a) is np.ndarray for a in w)

    def test_per_model_device_beside_a_cpu_model():
        x, y = _data()
        gpu, cpu = _mlp("cuda"), _mlp()
        assert get_device() == "cpu" and cpu.device is None and gpu.device == "cuda"
        for m in (gpu, cpu):
            m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
            m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert isinstance(gpu.ops, CudaOps) and type(cpu.ops) is CpuOps
        assert is_device_array(gpu.params) and type(cpu.params) is np.ndarray
        assert all(type(b) is np.ndarray for b in cpu.optimizer._buffers.values())
        for g, c in zip(gpu.get_weights(), cpu.get_weights()):
            np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)
        # a model can be moved back: weights and optimizer state come down once
        gpu.device = "cpu"
        gpu.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert type(gpu.params) is np.ndarray
        assert all(type(b) is np.ndarray for b in gpu.optimizer._buffers.values())

    def test_weights_and_save_round_trip(tmp_path):
        x, y = _data()
        model = _mlp("cuda")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        w = model.get_weights()
        new = [a + 0.5 for a in w]
        model.set_weights(new)
        assert is_device_array(model.params)
        for g, want in zip(model.get_weights(), new):
            np.testing.assert_array_equal(g, want)
        path = tmp_path / "m.fastff"
        model.save(path)
        loaded = load_model(path)
        for g, want in zip(loaded.get_weights(), new):
            np.testing.assert_array_equal(g, want)
        state, loaded_state = model.optimizer.get_state(), loaded.optimizer.get_state()
        for k in state:
            np.testing.assert_array_equal(np.asarray(loaded_state[k]), np.asarray(state[k]))
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-6)
        loaded.device = "cuda"  # loaded on the CPU, trained on, and equal to, the device one
        for m in (loaded, model):
            m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        for g, want in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-7)


    def test_functional_model_with_concatenate_on_device():
        from fastff import Model
        from fastff.layers import Concatenate, Input

        def build(device):
            a, b = Input((3,)), Input((2,))
            h = Concatenate()([Dense(4, activation="relu")(a), b])
            m = Model([a, b], Dense(3, activation="softmax")(h), device=device)
            m.set_weights([np.linspace(-0.5, 0.5, w.size, dtype=np.float32).reshape(w.shape)
                           for w in m.get_weights()])
            m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
            m._shuffle_seed = 5
            return m

        rng = np.random.default_rng(0)
        xs = [rng.standard_normal((8, 3)).astype(np.float32),
              rng.standard_normal((8, 2)).astype(np.float32)]
        y = rng.integers(0, 3, 8)
        dev, ref = build("cuda"), build(None)
        ref.ops = NUMPY
        h_dev = dev.fit(xs, y, batch_size=4, epochs=1, verbose=0).history
        h_ref = ref.fit(xs, y, batch_size=4, epochs=1, verbose=0).history
        assert is_device_array(dev.params) and dev.device == "cuda"
        np.testing.assert_allclose(h_dev["loss"], h_ref["loss"], rtol=1e-5)
        for g, w in zip(dev.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        p = dev.predict(xs, verbose=0)
        assert type(p) is np.ndarray
        np.testing.assert_allclose(p, ref.predict(xs, verbose=0), rtol=1e-5, atol=1e-6)
