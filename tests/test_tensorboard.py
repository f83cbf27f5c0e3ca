"""The TensorBoard callback: Keras 3's tags and directories, in valid TFRecord event files."""

import glob
import os
import struct

import numpy as np
import pytest

import fastff as keras
from fastff.callbacks._event_file import masked_crc32c, read_records


def _fields(buf: bytes) -> list:
    """A protobuf message's (field, wire type, value) triples (enough for events)."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = struct.unpack("<d", buf[i:i + 8])[0], i + 8
        elif wire == 5:
            v, i = struct.unpack("<f", buf[i:i + 4])[0], i + 4
        else:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        out.append((field, wire, v))
    return out


def _varint(buf: bytes, i: int) -> tuple:
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _scalars(logdir: str) -> dict:
    """{tag: [(step, value)]} of every event file under ``logdir``."""
    out: dict = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        records = read_records(path)
        first = dict((f, v) for f, _, v in _fields(records[0]))
        assert first[3] == b"brain.Event:2"
        for rec in records[1:]:
            ev = {f: v for f, _, v in _fields(rec)}
            for _f, _, value_msg in _fields(ev[5]):
                val = {vf: vv for vf, _, vv in _fields(value_msg)}
                tag = val[1].decode()
                out.setdefault(tag, []).append((ev.get(2, 0), val.get(2, val.get(5))))
    return out


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5))
    return x, (x[:, 0] > 0).astype(int)


def test_masked_crc32c_known_values():
    # CRC-32C check value of "123456789" is 0xE3069283
    from fastff.callbacks._event_file import crc32c

    assert crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") == 0xA282EAD8


def test_fit_writes_keras_tags(tmp_path):
    x, y = _data()
    model = keras.Sequential([keras.Input((5,)),
                              keras.layers.Dense(2, activation="softmax", name="dense")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    tb = keras.callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq=2)
    h = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, callbacks=[tb],
                  verbose=0)
    train = _scalars(str(tmp_path / "train"))
    val = _scalars(str(tmp_path / "validation"))
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], h.history["loss"],
                               rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_accuracy"]],
                               h.history["val_accuracy"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.01] * 3)
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6, 8]  # 9 steps, every 2nd
    assert "dense/kernel/histogram" in train and "dense/bias/histogram" in train
    assert not any(k.startswith("epoch_val_") for k in train)


def test_evaluate_writes_vs_iterations(tmp_path):
    x, y = _data()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    loss = model.evaluate(x, y, callbacks=[keras.callbacks.TensorBoard(tmp_path)], verbose=0)
    val = _scalars(str(tmp_path / "validation"))
    assert val["evaluation_loss_vs_iterations"] == [(2, pytest.approx(loss, rel=1e-6))]


def test_bad_arguments():
    with pytest.raises(ValueError, match="update_freq"):
        keras.callbacks.TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match="profile_batch"):
        keras.callbacks.TensorBoard(profile_batch=(2, 4))
    with pytest.raises(ValueError, match="histogram_freq"):
        keras.callbacks.TensorBoard(histogram_freq=-1)
