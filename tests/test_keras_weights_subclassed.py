"""Subclassed models' ``.weights.h5`` in Keras 3's layout (``fastff.keras_format.tracked``):
a committed file written by Keras loads and predicts as Keras did; fastff's file has Keras's
group paths; with ``FASTFF_KERAS_PYTHON`` Keras loads fastff's file and predicts the same."""

import os
import pathlib
import subprocess

import h5py
import numpy as np
import pytest

import fastff as keras
from fastff import layers, ops

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
KERAS_PYTHON = os.environ.get("FASTFF_KERAS_PYTHON")


class FFNN(keras.Model):
    """The class of fixtures/keras/keras_subclassed.py, written with fastff."""

    def __init__(self, vocab=50, emb=8, hidden=16, classes=3, **kw):
        super().__init__(**kw)
        self.emb = layers.Embedding(vocab, emb)
        self.hidden = layers.Dense(hidden, activation="tanh")
        self.blocks = [layers.Dense(hidden, activation="relu") for _ in range(2)]
        self.norm = layers.BatchNormalization()
        self.out = layers.Dense(classes)

    def call(self, x, training=False):
        h = self.hidden(ops.mean(self.emb(x), axis=1))
        for b in self.blocks:
            h = h + b(h)
        return ops.softmax(self.out(self.norm(h, training=training)))


def built(ids):
    m = FFNN(dtype="float32")
    m(ids)
    return m


def groups(path):
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.append(name) if name.endswith("/vars") else None)
    return sorted(out)


def test_keras_file_loads_and_predicts_as_keras():
    ref = np.load(FIXTURES / "keras_subclassed.npz")
    m = built(ref["ids"])
    m.load_weights(FIXTURES / "keras_subclassed.weights.h5")  # (its optimizer group unused)
    np.testing.assert_allclose(m.predict(ref["ids"], verbose=0), ref["pred"], atol=2e-6)
    moving = m.norm.get_weights()[2:]
    assert not np.allclose(moving[0], 0) and not np.allclose(moving[1], 1)


def test_fastff_writes_keras_paths_and_reads_them_back(tmp_path):
    ids = np.load(FIXTURES / "keras_subclassed.npz")["ids"]
    m = built(ids)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(ids, np.arange(8) % 3, epochs=2, verbose=0)
    m.save_weights(tmp_path / "m.weights.h5")
    keras_groups = [g for g in groups(FIXTURES / "keras_subclassed.weights.h5")
                    if not g.startswith("optimizer")]
    # attributes before "layers" by name; "norm" and "out" sort after it: Keras's layers/...
    assert groups(tmp_path / "m.weights.h5") == keras_groups == [
        "blocks/dense/vars", "blocks/dense_1/vars", "emb/vars", "hidden/vars",
        "layers/batch_normalization/vars", "layers/dense_3/vars"]
    again = built(ids)
    again.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(again.predict(ids, verbose=0), m.predict(ids, verbose=0))


def test_wrong_structure_is_refused_before_anything_changes(tmp_path):
    ids = np.load(FIXTURES / "keras_subclassed.npz")["ids"]
    wide = FFNN(hidden=32, dtype="float32")
    wide(ids)
    before = [w.copy() for w in wide.get_weights()]
    with pytest.raises(ValueError, match=r"blocks/dense/vars/0 has shape \(16, 16\).*\(32, 32\)"):
        wide.load_weights(FIXTURES / "keras_subclassed.weights.h5")
    for a, b in zip(before, wide.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="build the model first"):
        FFNN().load_weights(FIXTURES / "keras_subclassed.weights.h5")


@pytest.mark.skipif(not KERAS_PYTHON or not os.path.exists(KERAS_PYTHON),
                    reason="set FASTFF_KERAS_PYTHON to a Python with keras 3 (torch backend) "
                           "for the round trip through Keras itself")
def test_keras_loads_what_fastff_saves(tmp_path):
    ids = np.load(FIXTURES / "keras_subclassed.npz")["ids"]
    m = built(ids)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(ids, np.arange(8) % 3, epochs=3, verbose=0)
    m.save_weights(tmp_path / "f.weights.h5")
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_subclassed.py"), "predict",
                          str(tmp_path / "f.weights.h5"), str(tmp_path / "k.npy")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), m.predict(ids, verbose=0),
                               atol=2e-6)
    m.save(tmp_path / "f.keras")
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_subclassed.py"), "predict_keras",
                          str(tmp_path / "f.keras"), str(tmp_path / "k2.npy")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "k2.npy"), m.predict(ids, verbose=0),
                               atol=2e-6)


class WithSequential(keras.Model):
    """A Sequential held by an attribute: its layers under ``<attr>/layers/...``."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="relu"),
                                      layers.Dense(3)])
        self.head = layers.Dense(1)

    def call(self, x):
        return self.head(self.body(x))


def test_nested_sequential_groups(tmp_path):
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    m = WithSequential(dtype="float32")
    m(x)
    m.save_weights(tmp_path / "n.weights.h5")
    assert groups(tmp_path / "n.weights.h5") == [
        "body/layers/dense/vars", "body/layers/dense_1/vars", "head/vars"]
    again = WithSequential(dtype="float32")
    again(x)
    again.load_weights(tmp_path / "n.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), m.predict(x, verbose=0))


def test_keras_file_of_a_subclassed_model_loads_with_its_class(tmp_path):
    """``.keras``: the class comes from custom_objects (never from the file); config, weights,
    compile config and optimizer state as Keras wrote them."""
    ref = np.load(FIXTURES / "keras_subclassed.npz")
    with pytest.raises(ValueError, match="custom_objects=.*never loaded from a file"):
        keras.models.load_model(FIXTURES / "keras_subclassed.keras")
    m = keras.models.load_model(FIXTURES / "keras_subclassed.keras",
                                custom_objects={"FFNN": FFNN})
    assert type(m) is FFNN and m.optimizer.iterations == 2
    np.testing.assert_allclose(m.predict(ref["ids"], verbose=0), ref["pred"], atol=2e-6)
    m.fit(ref["ids"], np.arange(8) % 3, epochs=1, verbose=0)  # compiled, state restored
    assert m.optimizer.iterations == 3
    m.save(tmp_path / "again.keras")
    back = keras.models.load_model(tmp_path / "again.keras", custom_objects={"FFNN": FFNN})
    np.testing.assert_array_equal(back.predict(ref["ids"], verbose=0),
                                  m.predict(ref["ids"], verbose=0))
    assert back.optimizer.iterations == 3
    for key, value in m.optimizer.get_state().items():
        np.testing.assert_array_equal(back.optimizer.get_state()[key], value)
