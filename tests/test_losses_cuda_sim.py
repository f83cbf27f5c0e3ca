"""Label smoothing and the fused NumPy losses (focal, KL divergence) on a device model, under
the CUDA simulator: training equals the NumPy reference, metrics see the user's labels.

As in ``test_cuda_fit_sim.py``, a normal run collects one test that re-runs this module in a
fresh process with ``NUMBA_ENABLE_CUDASIM=1``.
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
    def test_device_losses_on_simulator(request):
        """Runs this module's tests in a subprocess with the CUDA simulator on (one process
        for the session's simulator modules, tests/_cudasim.py)."""
        print(module_report(request, __file__))


else:
    from fastff import backend, losses
    from fastff import metrics as M
    from fastff.layers import Dense
    from fastff.models import Sequential

    pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

    def _mlp(device, out):
        model = Sequential([Dense(5, activation="tanh", input_shape=(4,)),
                            Dense(3, activation=out)], device=device)
        model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype=np.float32).reshape(w.shape)
                           for w in model.get_weights()])
        return model

    CASES = [
        (lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax"),
        (lambda: losses.BinaryCrossentropy(label_smoothing=0.1), "sigmoid"),
        (lambda: losses.CategoricalFocalCrossentropy(label_smoothing=0.1), "softmax"),
        (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=True), "sigmoid"),
        (losses.KLDivergence, "softmax"),
    ]

    @pytest.mark.parametrize("make,out", CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
    def test_device_fit_matches_numpy(make, out):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((8, 4)).astype(np.float32)  # 2 batches of 4, 2 epochs
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
        dev, ref = _mlp("cuda", out), _mlp(None, out)
        ref.ops = backend.get_ops("numpy")
        for m in (dev, ref):
            m.compile("adam", make(), metrics=[M.Recall(name="recall"), "accuracy"])
            assert m._fused()
        kw = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
        h_dev, h_ref = dev.fit(x, y, **kw).history, ref.fit(x, y, **kw).history
        for k in h_ref:
            np.testing.assert_allclose(h_dev[k], h_ref[k], rtol=1e-5, atol=1e-6)
        for g, w in zip(dev.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        p = ref.predict(x, verbose=0)
        recall = M.Recall()
        recall.update_state(y, p)
        assert dev.evaluate(x, y, verbose=0, return_dict=True)["recall"] == pytest.approx(
            recall.result(), abs=1e-6)
