"""Label smoothing and the fused NumPy losses (focal, KL divergence) on a device model, under
the CUDA simulator: training equals the NumPy reference, metrics see the user's labels.

As in ``test_cuda_fit_sim.py``, a normal run collects one test that re-runs this module in a
fresh process with ``NUMBA_ENABLE_CUDASIM=1``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

if not SIM:

    @pytest.mark.skipif(not HAVE_NUMBA_CUDA,
                        reason="numba-cuda not installed (pip install 'fastff[cuda]')")
    def test_device_losses_on_simulator():
        """Runs this module's tests in a subprocess with the CUDA simulator on."""
        env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
        env.pop("FASTFF_TEST_CUDA", None)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-W", "ignore::pytest.PytestUnraisableExceptionWarning", __file__]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        assert proc.returncode == 0, f"simulator run failed:\n{tail}"

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
        x = rng.standard_normal((12, 4)).astype(np.float32)
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]
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
