"""Callbacks: each one's documented (Keras) behaviour, on scripted logs and in real ``fit`` runs."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

import fastff
from fastff import callbacks, config, layers, optimizers
from fastff.callbacks import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from fastff.saving import load_model


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.8)
    return x, y


def _model(seed=0, lr=0.01, optimizer=None):
    config.set_seed(seed)
    model = fastff.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer or optimizers.Adam(learning_rate=lr),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _StubModel:
    """The attributes callbacks use, without training: weights are a counter."""

    def __init__(self):
        self.stop_training = False
        self.step = 0
        self.saved: list[str] = []
        self.optimizer = optimizers.SGD(learning_rate=1.0)

    def get_weights(self):
        return [np.array([self.step])]

    def set_weights(self, w):
        self.step = int(w[0][0])

    def save(self, path):
        self.saved.append(path)

    save_weights = save


def _drive(cb, values, key="val_loss", model=None):
    """Run ``cb`` over epochs whose ``key`` takes ``values``; returns (model, epochs run)."""
    model = model or _StubModel()
    cb.set_model(model)
    cb.on_train_begin()
    ran = 0
    for epoch, v in enumerate(values):
        if model.stop_training:
            break
        model.step = epoch
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {key: v})
        ran += 1
    cb.on_train_end()
    return model, ran


# --------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience():
    _, ran = _drive(EarlyStopping(patience=2), [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])
    assert ran == 4  # epochs 2 and 3 do not improve on 0.8: stop after epoch 3
    _, ran = _drive(EarlyStopping(patience=0), [1.0, 0.9, 0.95, 0.5])
    assert ran == 3
    _, ran = _drive(EarlyStopping(patience=1, min_delta=0.2), [1.0, 0.9, 0.85, 0.5])
    assert ran == 2  # 0.9 is not better than 1.0 by more than 0.2


def test_early_stopping_mode_baseline_and_start_epoch():
    _, ran = _drive(EarlyStopping(monitor="val_accuracy", patience=1),
                    [0.5, 0.6, 0.55, 0.54, 0.9], key="val_accuracy")
    assert ran == 3  # accuracy: larger is better (mode auto)
    values = [1.0, 0.9, 0.95, 0.96, 0.97]
    assert _drive(EarlyStopping(patience=2), values)[1] == 4
    # epochs that improve but miss the baseline do not reset the patience counter
    assert _drive(EarlyStopping(patience=2, baseline=0.5), values)[1] == 3
    _, ran = _drive(EarlyStopping(patience=0, start_from_epoch=3), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert ran == 5  # epochs 0-2 ignored; epoch 3 sets the best; epoch 4 stops
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="best")


def test_early_stopping_restores_best_weights():
    model, ran = _drive(EarlyStopping(patience=2, restore_best_weights=True),
                        [1.0, 0.5, 0.7, 0.8, 0.2])
    assert ran == 4 and model.step == 1
    model, _ = _drive(EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.7])
    assert model.step == 1  # Keras 3: restored at the end even without stopping


def test_early_stopping_missing_monitor_warns(caplog):
    _, ran = _drive(EarlyStopping(monitor="val_auc"), [1, 2, 3], key="loss")
    assert ran == 3 and "val_auc" in caplog.text


def test_early_stopping_in_fit_restores_weights_of_best_epoch():
    x, y = _data()
    model = _model(lr=0.05)
    snapshots = []
    record = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        (logs["val_loss"], model.get_weights())))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=40, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[record, stop])
    assert len(history.history["loss"]) == len(snapshots)
    best = min(range(len(snapshots)), key=lambda i: snapshots[i][0])
    assert stop.best_epoch == best
    for a, b in zip(model.get_weights(), snapshots[best][1]):
        assert np.array_equal(a, b)
    if stop.stopped_epoch:
        assert len(snapshots) == stop.stopped_epoch + 1 < 40


# --------------------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_best_only_and_name_formatting(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}-{val_loss:.4f}.fastff"),
                         save_best_only=True)
    model, _ = _drive(cb, [1.0, 0.5, 0.7, 0.4, 0.4])
    names = [p.rsplit("/", 1)[-1] for p in model.saved]
    assert names == ["ck-01-1.0000.fastff", "ck-02-0.5000.fastff", "ck-04-0.4000.fastff"]
    cb = ModelCheckpoint(str(tmp_path / "m.fastff"), monitor="val_accuracy",
                         save_best_only=True, initial_value_threshold=0.6)
    model, _ = _drive(cb, [0.5, 0.7, 0.65, 0.8], key="val_accuracy")
    assert len(model.saved) == 2
    with pytest.raises(KeyError, match="val_acc"):
        ModelCheckpoint("{val_acc}.fastff").format_path(0, None, {"val_loss": 1.0})


def test_model_checkpoint_in_fit_writes_loadable_files(tmp_path):
    x, y = _data()
    model = _model()
    pattern = str(tmp_path / "sub" / "e{epoch:02d}-{loss:.3f}.fastff")
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                        callbacks=[ModelCheckpoint(pattern, monitor="loss")])
    files = sorted(p.name for p in (tmp_path / "sub").iterdir())
    expected = [f"e{i + 1:02d}-{loss:.3f}.fastff" for i, loss in
                enumerate(history.history["loss"])]
    assert files == expected
    last = load_model(tmp_path / "sub" / expected[-1])
    assert np.array_equal(last.predict(x, verbose=0), model.predict(x, verbose=0))
    # weights only, every 2 batches
    cb = ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}.fastff"), save_weights_only=True,
                         save_freq=2)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert cb.last_saved.endswith("w-1-2.fastff")
    clone = _model(seed=1)
    clone.load_weights(cb.last_saved)


# --------------------------------------------------------------------------- learning rate


def test_reduce_lr_on_plateau_schedule_of_rates():
    model = _StubModel()
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    rates, logged = [], []
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(9):
        logs = {"loss": 1.0}  # a plateau from the start
        cb.on_epoch_end(epoch, logs)
        rates.append(model.optimizer.learning_rate)
        logged.append(logs["learning_rate"])
    # patience 2, then one cooldown epoch, then patience again; never below min_lr
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert logged == [1.0, *rates[:-1]]
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_in_fit_changes_the_rate():
    x, y = _data()
    model = _model(lr=0.01)
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[cb])
    assert model.optimizer.learning_rate == pytest.approx(0.01 * 0.5 ** 3)
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_learning_rate_scheduler():
    x, y = _data()
    model = _model(lr=0.1)
    seen = []
    probe = LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(
        model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[sched, probe])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert history.history["learning_rate"] == pytest.approx(seen)
    LearningRateScheduler(lambda epoch: 0.3).set_model(model)
    one_arg = LearningRateScheduler(lambda epoch: 0.3)
    one_arg.set_model(model)
    one_arg.on_epoch_begin(0)
    assert model.optimizer.learning_rate == pytest.approx(0.3)
    bad = LearningRateScheduler(lambda epoch: "fast")
    bad.set_model(model)
    with pytest.raises(ValueError, match="float"):
        bad.on_epoch_begin(0)


# --------------------------------------------------------------------------- CSV / Lambda


def test_csv_logger_content_and_append(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for i, row in enumerate(rows[1:]):
        for key, cell in zip(rows[0][1:], row[1:]):
            assert float(cell) == pytest.approx(history.history[key][i], rel=1e-12)
    model.fit(x, y, epochs=5, initial_epoch=3, verbose=0,
              callbacks=[CSVLogger(path, separator=",", append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and rows[0][0] == "epoch" and [r[0] for r in rows[4:]] == ["3", "4"]
    assert rows[4][3:] == ["NA", "NA"]  # no validation in the second run
    CSVLogger(path, separator=";").on_train_begin()  # append=False truncates
    assert path.read_text() == ""


def test_csv_logger_keys_appearing_later(tmp_path):
    x, y = _data()
    path = tmp_path / "freq.csv"
    model = _model()
    model.fit(x, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0,
              callbacks=[CSVLogger(path, separator=";")])
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[3:] for r in rows[1:]][0::2] == [["NA", "NA"], ["NA", "NA"]]
    assert all(float(v) >= 0 for r in rows[2::2] for v in r[3:])


def test_lambda_callback_hooks_and_errors():
    x, y = _data(n=64)
    calls: dict[str, int] = {}

    def count(name):
        return lambda *args: calls.__setitem__(name, calls.get(name, 0) + 1)

    cb = LambdaCallback(on_train_begin=count("train_begin"), on_epoch_end=count("epoch_end"),
                        on_train_batch_end=count("batch_end"), on_test_end=count("test_end"))
    model = _model()
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])
    assert calls == {"train_begin": 1, "epoch_end": 2, "batch_end": 6, "test_end": 2}
    with pytest.raises(ValueError, match="on_epoch_middle"):
        LambdaCallback(on_epoch_middle=print)
    with pytest.raises(TypeError, match="callable"):
        LambdaCallback(on_epoch_end=3)


# --------------------------------------------------------------------------- NaN, Ctrl-C


def test_terminate_on_nan_keeps_last_finite_weights(capsys):
    x, y = _data()
    config.set_seed(0)
    model = fastff.Sequential([layers.Input((6,)), layers.Dense(8), layers.Dense(1)])
    model.compile(optimizers.SGD(learning_rate=1e18), "mse")
    before = []
    spy = LambdaCallback(on_train_batch_begin=lambda b, logs: before.append(
        model.get_weights()))
    cb = TerminateOnNaN()
    history = model.fit(x, y.astype(np.float32) * 1e10, epochs=5, batch_size=8, verbose=0,
                        callbacks=[spy, cb])
    assert cb.terminated_batch is not None
    assert all(np.isfinite(w).all() for w in model.get_weights())
    for a, b in zip(model.get_weights(), before[-1]):
        assert np.array_equal(a, b)  # exactly the weights from before the bad batch
    assert len(history.history["loss"]) == 1
    assert not math.isfinite(history.history["loss"][0])
    assert "invalid loss" in capsys.readouterr().out


def test_keyboard_interrupt_mid_epoch_leaves_consistent_state(tmp_path):
    x, y = _data()
    model = _model()
    steps = []

    def interrupt(batch, logs):
        steps.append(batch)
        if len(steps) == 5:  # epoch 1, batch 1 (3 batches per epoch)
            raise KeyboardInterrupt

    ckpt = tmp_path / "ck.fastff"
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                  callbacks=[ModelCheckpoint(str(ckpt), monitor="loss"),
                             LambdaCallback(on_train_batch_end=interrupt)])
    assert model.optimizer.iterations == 5  # exactly the completed steps
    assert all(np.isfinite(w).all() for w in model.get_weights())
    saved = load_model(ckpt)  # the epoch-0 checkpoint is intact and loadable
    assert saved.optimizer.iterations == 3
    # the model is consistent: the same state trains on, as a reloaded copy does
    model.save(tmp_path / "now.fastff")
    again = load_model(tmp_path / "now.fastff")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    again.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), again.get_weights()):
        assert np.array_equal(a, b)


def test_real_sigint_stops_at_the_step_boundary(tmp_path):
    import os
    import signal

    x, y = _data()
    model = _model()

    def ctrl_c(batch, logs):
        if model.optimizer.iterations == 4:  # during epoch 1, before its second step
            os.kill(os.getpid(), signal.SIGINT)

    ckpt = tmp_path / "ck.fastff"
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                  callbacks=[LambdaCallback(on_train_batch_begin=ctrl_c),
                             ModelCheckpoint(str(ckpt), monitor="loss")])
    assert model.optimizer.iterations == 5  # the step in flight finished, no more
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert load_model(ckpt).optimizer.iterations == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


# --------------------------------------------------------------------------- ProgbarLogger


def _run_progbar(verbose, dynamic, steps=4):
    out = io.StringIO()
    cb = ProgbarLogger(file=out, dynamic=dynamic)
    cb.set_params({"verbose": verbose, "epochs": 2, "steps": steps})
    cb.on_train_begin()
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for b in range(steps):
            cb.on_train_batch_end(b, {"loss": 1.0 / (b + 1), "accuracy": 0.5})
        cb.on_epoch_end(epoch, {"accuracy": 0.9612, "loss": 0.1234, "val_accuracy": 0.9,
                                "val_loss": 0.2, "learning_rate": 1e-4})
    cb.on_train_end()
    return out.getvalue()


@pytest.mark.parametrize("verbose, dynamic", [(2, False), (1, False), (2, True)])
def test_progbar_plain_lines(verbose, dynamic):
    lines = _run_progbar(verbose, dynamic).splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - 0s - ")
    # Keras 3's order: sorted training keys, sorted val_ keys, the learning rate last
    assert lines[1].endswith("/step - accuracy: 0.9612 - loss: 0.1234 - val_accuracy: 0.9000 - "
                             "val_loss: 0.2000 - learning_rate: 1.0000e-04")


def test_progbar_live_bar():
    text = _run_progbar(1, True)
    assert "\r" in text and "ETA" in text
    final = text.split("\n")[1].split("\r")[-1]
    assert final.startswith("4/4 [") and "loss: 0.1234" in final and "val_loss" in final


def test_verbose_fit_prints_epoch_lines(capsys):
    x, y = _data(n=64)
    model = _model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[1].startswith("2/2 - ") and "loss: " in out[1]
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(x, y, verbose=1)
    assert "loss: " in capsys.readouterr().out


def test_only_the_live_bar_asks_for_batch_logs():
    plain = callbacks.CallbackList([ProgbarLogger(file=io.StringIO())], verbose=2, epochs=1,
                                   steps=3)
    assert not plain.needs_batch_logs
    live = callbacks.CallbackList([ProgbarLogger(file=io.StringIO(), dynamic=True)], verbose=1,
                                  epochs=1, steps=3)
    assert live.needs_batch_logs and isinstance(live.callbacks[0], ProgbarLogger)


def test_callbacks_namespace():
    assert callbacks.EarlyStopping is EarlyStopping
    assert callbacks.TerminateOnNaN is TerminateOnNaN
