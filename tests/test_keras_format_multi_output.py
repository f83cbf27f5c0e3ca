"""Functional models with several outputs (a dict or a list) in Keras 3's ``.keras`` and
``.weights.h5``: a committed file written by Keras loads, predicts and evaluates as Keras
did (loss weights and per-output metrics included); fastff's own files round-trip; with
``FASTFF_KERAS_PYTHON`` Keras loads fastff's file and predicts the same."""

import json
import os
import pathlib
import subprocess
import zipfile

import numpy as np
import pytest

import fastff as keras
from fastff import layers

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
KERAS_PYTHON = os.environ.get("FASTFF_KERAS_PYTHON")


def two_outputs(kind="dict"):
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape=(4,), name="x")
    h = layers.Dense(8, activation="relu", name="shared")(inp)
    cls = layers.Dense(1, activation="sigmoid", name="cls")(h)
    reg = layers.Dense(2, name="reg")(h)
    if kind == "dict":
        m = keras.Model(inp, {"cls": cls, "reg": reg})
        m.compile(keras.optimizers.Adam(0.01), {"cls": "binary_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5},
                  metrics={"cls": ["accuracy"], "reg": ["mae"]})
    else:
        m = keras.Model(inp, [cls, reg])
        m.compile("sgd", ["binary_crossentropy", "mse"], loss_weights=[2.0, 1.0])
    return m


def data():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    return x, {"cls": (x[:, :1] > 0).astype("float32"), "reg": x[:, :2]}


def test_keras_two_output_file_loads_predicts_and_evaluates_as_keras():
    ref = np.load(FIXTURES / "keras_two_outputs.npz")
    m = keras.models.load_model(FIXTURES / "keras_two_outputs.keras")
    assert m.output_names == ["cls", "reg"]
    p = m.predict(ref["x"], verbose=0)
    assert sorted(p) == ["cls", "reg"]
    for k in ("cls", "reg"):
        np.testing.assert_allclose(p[k], ref[k], atol=1e-6)
    _, y = data()
    ev = m.evaluate(ref["x"], y, verbose=0, return_dict=True)
    for k in ("loss", "cls_loss", "reg_loss", "cls_accuracy"):
        assert ev[k] == pytest.approx(float(ref[f"eval_{k}"]), rel=1e-5), k
    m.fit(ref["x"], y, epochs=1, verbose=0)  # compiled, optimizer state restored


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_fastff_round_trip_keeps_outputs_losses_and_weights(tmp_path, kind):
    x, y = data()
    m = two_outputs(kind)
    y_fit = y if kind == "dict" else [y["cls"], y["reg"]]
    m.fit(x, y_fit, epochs=2, verbose=0)
    m.save(tmp_path / "m.keras")
    cfg = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    outs = cfg["config"]["output_layers"]
    assert outs == ({"cls": ["cls", 0, 0], "reg": ["reg", 0, 0]} if kind == "dict"
                    else [["cls", 0, 0], ["reg", 0, 0]])
    again = keras.models.load_model(tmp_path / "m.keras")
    p, q = m.predict(x, verbose=0), again.predict(x, verbose=0)
    if kind == "dict":
        assert sorted(q) == ["cls", "reg"]
        p, q = [p["cls"], p["reg"]], [q["cls"], q["reg"]]
    for a, b in zip(p, q):
        np.testing.assert_array_equal(a, b)
    assert again.evaluate(x, y_fit, verbose=0, return_dict=True) == pytest.approx(
        m.evaluate(x, y_fit, verbose=0, return_dict=True))
    m.save_weights(tmp_path / "m.weights.h5")
    fresh = two_outputs(kind)
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(fresh.get_weights()[0], m.get_weights()[0])


def test_checkpoint_of_a_two_output_model_as_weights_h5(tmp_path):
    x, y = data()
    m = two_outputs()
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), monitor="loss",
                                         save_weights_only=True, save_best_only=True)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ck])
    fresh = two_outputs()
    fresh.load_weights(tmp_path / "best.weights.h5")
    assert sorted(fresh.predict(x[:2], verbose=0)) == ["cls", "reg"]


def test_a_layer_applied_to_its_own_output_round_trips(tmp_path):
    """(More shared-layer cases: tests/test_keras_format_graphs.py.)"""
    inp = keras.Input(shape=(3,))
    d = layers.Dense(3)
    m = keras.Model(inp, [d(d(inp)), layers.Dense(1)(inp)])
    m.save(tmp_path / "s.keras")
    back = keras.models.load_model(tmp_path / "s.keras")
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    for a, b in zip(back.predict(x, verbose=0), m.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert len(back.trainable_weights) == 4


@pytest.mark.skipif(not KERAS_PYTHON or not os.path.exists(KERAS_PYTHON),
                    reason="set FASTFF_KERAS_PYTHON to a Python with keras 3 (torch backend) "
                           "for the round trip through Keras itself")
def test_keras_loads_what_fastff_saves(tmp_path):
    x, y = data()
    m = two_outputs()
    m.fit(x, y, epochs=2, verbose=0)
    m.save(tmp_path / "f.keras")
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_multi_output.py"), "predict",
                          str(tmp_path / "f.keras"), str(tmp_path / "k.npz")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    k, p = np.load(tmp_path / "k.npz"), m.predict(x, verbose=0)
    for name in ("cls", "reg"):
        np.testing.assert_allclose(k[name], p[name], atol=1e-6)
