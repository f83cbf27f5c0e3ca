"""BackupAndRestore: an interrupted fit resumes at the right epoch with weights, optimizer
state, shuffle order and dropout masks restored (bitwise equal to an uninterrupted run), the
backup is deleted at the end, writes are atomic, double checkpoints fall back."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fastff as keras
from fastff.callbacks import BackupAndRestore


class Crash(keras.callbacks.Callback):
    """Raise at the end of epoch ``at`` (0-based), after the backup of that epoch."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("interrupted")


def _make():
    keras.utils.set_random_seed(7)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dropout(0.3), keras.layers.Dense(3,
                                                                        activation="softmax")])
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 4)).astype("float32"), rng.integers(0, 3, 40)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    x, y = _data()
    ref = _make()
    h_ref = ref.fit(x, y, epochs=5, batch_size=8, verbose=0).history
    backup = tmp_path / "backup"
    m = _make()
    with pytest.raises(RuntimeError, match="interrupted"):
        m.fit(x, y, epochs=5, batch_size=8, verbose=0,
              callbacks=[BackupAndRestore(backup), Crash(at=2)])
    meta = json.loads((backup / "training_metadata.json").read_text())
    assert meta["epoch"] == 3  # epochs 0, 1, 2 complete
    assert os.path.exists(backup / meta["checkpoint"])
    fresh = _make()  # a new process: same script, new model
    h = fresh.fit(x, y, epochs=5, batch_size=8, verbose=0,
                  callbacks=[BackupAndRestore(backup)]).history
    assert h["loss"] == h_ref["loss"][3:] and h["accuracy"] == h_ref["accuracy"][3:]
    for a, b in zip(fresh.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fresh.optimizer.iterations == ref.optimizer.iterations == 25
    assert not backup.exists()  # delete_checkpoint: a completed fit removes the backup


def test_keep_checkpoint_and_batch_frequency(tmp_path):
    x, y = _data()
    backup = tmp_path / "b"
    m = _make()
    cb = BackupAndRestore(backup, save_freq=3, delete_checkpoint=False)
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    meta = json.loads((backup / "training_metadata.json").read_text())
    assert meta["epoch"] == 1 and meta["batch"] == 3  # last save: batch 9 of 10 in all
    assert sorted(os.listdir(backup)) == sorted([meta["checkpoint"],
                                                 "training_metadata.json"])
    again = _make()
    again.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[BackupAndRestore(backup, save_freq=3, delete_checkpoint=False)])
    assert again.optimizer.iterations == 9 + 5  # resumed at epoch 1 with 9 steps done


def test_double_checkpoint_falls_back_to_the_previous(tmp_path):
    x, y = _data()
    backup = tmp_path / "d"
    m = _make()
    with pytest.raises(RuntimeError):
        m.fit(x, y, epochs=4, batch_size=8, verbose=0,
              callbacks=[BackupAndRestore(backup, double_checkpoint=True), Crash(at=1)])
    meta = json.loads((backup / "training_metadata.json").read_text())
    assert meta["epoch"] == 2 and meta["previous_epoch"] == 1
    (backup / meta["checkpoint"]).write_bytes(b"damaged")
    fresh = _make()
    h = fresh.fit(x, y, epochs=4, batch_size=8, verbose=0,
                  callbacks=[BackupAndRestore(backup)]).history
    assert len(h["loss"]) == 3  # resumed at epoch 1 from the previous backup


def test_arguments_and_names():
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore("x", save_freq="batch")
    assert keras.callbacks.BackupAndRestore is BackupAndRestore
