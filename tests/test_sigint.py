"""A real Ctrl-C (SIGINT) at every phase of ``fit`` and ``evaluate`` is raised, never swallowed.

One subprocess (so a lost or mishandled signal cannot hit pytest itself, and a hang fails on the
subprocess timeout) sends SIGINT to itself from callbacks: mid-epoch on the general and the
compiled path, during the last epoch's validation, its ``on_epoch_end`` callbacks (before a
``ModelCheckpoint`` write; also when training on a generator), ``on_train_end`` and a
standalone ``evaluate``. Each phase must
raise ``KeyboardInterrupt`` out of the call, leave the weights bitwise those after a completed
step (recorded by the callbacks after each step and epoch), restore the SIGINT handler, and
leave any checkpoint loadable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = r'''
import json, os, signal, sys
import numpy as np
import fastff
from fastff import layers
from fastff.saving import load_model
from fastff.callbacks import Callback, ModelCheckpoint

tmp = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 6)).astype("float32")
y = rng.integers(0, 3, 64)


def model():
    fastff.config.set_seed(1)
    m = fastff.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                           layers.Dense(3, activation="softmax")])
    m.compile(fastff.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return m


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


class Phase(Callback):
    """Send SIGINT at one phase (``when``); record the weights after every step."""

    def __init__(self, when):
        super().__init__()
        self.when, self.snaps = when, []

    def snap(self):
        self.snaps.append(self.model.get_weights())

    def on_train_batch_end(self, batch, logs=None):
        self.snap()
        if self.when == "step" and batch == 1:
            ctrl_c()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        if self.when == "validation" and getattr(self, "epoch", None) == 1:
            ctrl_c()

    def on_test_batch_end(self, batch, logs=None):
        if self.when == "evaluate" and batch == 0:
            ctrl_c()

    def on_epoch_end(self, epoch, logs=None):
        if self.when in ("validation", "epoch_end") and epoch == 1:
            if self.when == "epoch_end":
                ctrl_c()
            self.validated = "val_loss" in (logs or {})

    def on_train_end(self, logs=None):
        if self.when == "train_end":
            ctrl_c()


def run(name, when, call):
    ref = model()  # the same run without a signal: its weights after each step
    ref_cb = Phase(None)
    ref_cb.snaps.append(ref.get_weights())
    call(ref, ref_cb)
    m = model()
    cb = Phase(when)
    result = {"raised": False}
    try:
        call(m, cb)
    except KeyboardInterrupt:
        result["raised"] = True
    w = m.get_weights()
    result["finite"] = bool(all(np.isfinite(a).all() for a in w))
    # the weights are bitwise those after some completed step (or, for evaluate, untouched)
    snaps = ref_cb.snaps
    result["completed_step"] = any(all(np.array_equal(a, b) for a, b in zip(w, s))
                                   for s in snaps)
    result["handler_restored"] = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    result["validated"] = getattr(cb, "validated", None)
    return name, result


sw = np.ones(64, dtype="float32")
ck = os.path.join(tmp, "ck.fastff")
cases = [
    run("step_general", "step", lambda m, cb: m.fit(
        x, y, sample_weight=sw, batch_size=16, epochs=2, verbose=0, callbacks=[cb])),
    run("step_compiled", "step", lambda m, cb: m.fit(
        x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])),
    run("validation", "validation", lambda m, cb: m.fit(
        x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y), callbacks=[cb])),
    run("epoch_end_general", "epoch_end", lambda m, cb: m.fit(
        x, y, sample_weight=sw, batch_size=16, epochs=2, verbose=0,
        callbacks=[cb, ModelCheckpoint(ck)])),
    run("epoch_end_compiled", "epoch_end", lambda m, cb: m.fit(
        x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])),
    run("epoch_end_generator", "epoch_end", lambda m, cb: m.fit(
        ((x[i:i + 16], y[i:i + 16]) for _ in range(2) for i in range(0, 64, 16)),
        steps_per_epoch=4, epochs=2, verbose=0, callbacks=[cb])),
    run("train_end", "train_end", lambda m, cb: m.fit(
        x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])),
    run("evaluate", "evaluate", lambda m, cb: m.evaluate(
        x, y, batch_size=16, verbose=0, callbacks=[cb])),
]
out = dict(cases)
out["checkpoint_epochs"] = load_model(ck).optimizer.iterations
print(json.dumps(out))
'''


def test_sigint_at_every_phase_is_raised_after_a_completed_step(tmp_path):
    script = tmp_path / "sigint.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "NUMBA_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name in ("step_general", "step_compiled", "validation", "epoch_end_general",
                 "epoch_end_compiled", "epoch_end_generator", "train_end", "evaluate"):
        res = out[name]
        assert res["raised"], (name, res)
        assert res["finite"] and res["completed_step"], (name, res)
        assert res["handler_restored"], (name, res)
    assert out["validation"]["validated"] is True  # the validation in flight finished
    assert out["checkpoint_epochs"] == 8  # the last epoch's checkpoint was written whole
