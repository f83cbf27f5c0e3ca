"""Keras 3 ``.keras`` / ``.weights.h5`` files: both directions, dispatch, hostile files.

The load direction runs on fixtures written by real Keras 3 (tests/fixtures/keras, made by
keras_models.py there). With ``FASTFF_KERAS_PYTHON`` naming a Python that has keras 3 (torch
backend), Keras itself loads what fastff writes and writes what fastff loads, in a
subprocess: keras is never imported in this process.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import random
import subprocess
import zipfile

import numpy as np
import pytest

pytest.importorskip("h5py", reason="the Keras format needs h5py")

import fastff  # noqa: E402
from fastff import keras_format  # noqa: E402
from fastff.layers import (  # noqa: E402
    Activation,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    WindowEmbedding,
)
from fastff.models import load_model  # noqa: E402
from fastff.saving import MAGIC, FormatError  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
NAMES = ["adam_resume", "sequential_dense", "sequential_embedding", "functional_two_inputs"]
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu",
               "softplus", "selu", "softsign", "silu", "swish", "hard_sigmoid", "exponential",
               "log_softmax", "relu6", "mish", "hard_silu", "hard_swish", "hard_tanh",
               "log_sigmoid", "celu", "hard_shrink", "soft_shrink", "tanh_shrink",
               "sparse_plus", "sparse_sigmoid", "squareplus"]


def _inputs(npz):
    return [npz[k] for k in sorted((k for k in npz.files if k.endswith("_x")),
                                   key=lambda k: int(k.split("_")[0]))]


def _x(xs):
    return xs if len(xs) > 1 else xs[0]


# ------------------------------------------------------------------ fixtures by Keras 3
@pytest.mark.parametrize("name", NAMES)
def test_fixture_written_by_keras_loads_and_predicts_the_same(name):
    data = np.load(FIXTURES / f"{name}.npz")
    model = load_model(FIXTURES / f"{name}.keras")
    np.testing.assert_allclose(model.predict(_x(_inputs(data)), verbose=0), data["y"],
                               rtol=1e-6, atol=1e-6)
    assert model.optimizer is not None and model.loss is not None
    assert model.optimizer.iterations > 0  # the optimizer state came along


def test_fixture_optimizer_state_matches_keras_layout():
    model = load_model(FIXTURES / "sequential_dense.keras")
    state = model.optimizer.get_state()
    assert np.abs(state["momentum"]).max() > 0 and state["velocity"].min() >= 0
    assert model.optimizer.iterations == 4  # 2 epochs of 2 batches
    xs = _inputs(np.load(FIXTURES / "sequential_dense.npz"))
    model.fit(xs[0], np.zeros(len(xs[0]), int), epochs=1, verbose=0)  # training resumes
    assert model.optimizer.iterations == 5


def test_training_resumes_from_keras_optimizer_state():
    """One more Adam step from the state Keras saved equals Keras's own next step."""
    data = np.load(FIXTURES / "adam_resume.npz")
    x, labels = _inputs(data)[0], data["labels"]
    model = load_model(FIXTURES / "adam_resume.keras")
    model.fit(x, labels, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), data["after"], rtol=0, atol=2e-6)
    fresh = load_model(FIXTURES / "adam_resume.keras", compile=False)
    fresh.compile(optimizer=fastff.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    fresh.fit(x, labels, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    assert np.abs(fresh.predict(x, verbose=0) - data["after"]).max() > 1e-4  # state matters


def test_load_by_magic_whatever_the_name(tmp_path):
    raw = (FIXTURES / "sequential_dense.keras").read_bytes()
    other = tmp_path / "model.bin"
    other.write_bytes(raw)
    data = np.load(FIXTURES / "sequential_dense.npz")
    np.testing.assert_allclose(load_model(other).predict(_inputs(data)[0], verbose=0),
                               data["y"], rtol=1e-6, atol=1e-6)
    # fastff's own format keeps loading under a .keras name
    model = fastff.Sequential([Input(shape=(3,)), Dense(2)])
    from fastff.saving import save_model

    save_model(model, tmp_path / "own.keras")
    assert (tmp_path / "own.keras").read_bytes().startswith(MAGIC)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(load_model(tmp_path / "own.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_compile_false_and_uncompiled():
    model = load_model(FIXTURES / "functional_two_inputs.keras", compile=False)
    assert model.optimizer is None
    assert model.input_names == ["words", "feats"]


# ------------------------------------------------------------------ fastff round trips
def _dense_model(act="relu", dtype="float32"):
    m = fastff.Sequential([Input(shape=(4,)), Dense(6, activation=act), Dropout(0.3),
                           Dense(3, activation="softmax")], dtype=dtype)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 4)).astype(dtype)
    m.fit(x, rng.integers(0, 3, 10), epochs=2, batch_size=5, verbose=0)
    return m, x


def _functional_model():
    words = Input(shape=(3,), dtype="int32", name="words")
    feats = Input(shape=(2,), name="feats")
    e = Flatten()(Embedding(10, 4, mask_zero=True)(words))
    h = Concatenate()([e, Dense(3, activation="tanh")(feats)])
    out = Activation("sigmoid")(Dense(2)(Dense(5, activation="elu")(h)))
    m = fastff.Model([words, feats], out)
    m.compile(optimizer=fastff.optimizers.RMSprop(0.01, momentum=0.5), loss="mse")
    rng = np.random.default_rng(1)
    xs = [rng.integers(0, 10, (6, 3)).astype(np.int32), rng.standard_normal((6, 2))
          .astype(np.float32)]
    xs[0][0, 0] = 0
    m.fit(xs, rng.random((6, 2)), epochs=1, verbose=0)
    return m, xs


def test_save_keras_writes_a_keras_zip_and_reads_back(tmp_path):
    model, x = _dense_model()
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        meta = json.loads(z.read("metadata.json"))
        config = json.loads(z.read("config.json"))
    assert meta["keras_version"].startswith("3.") and "date_saved" in meta
    assert config["class_name"] == "Sequential" and "compile_config" in config
    back = load_model(path)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    assert back.optimizer.iterations == model.optimizer.iterations
    for k, v in model.optimizer.get_state().items():
        np.testing.assert_array_equal(back.optimizer.get_state()[k], v)


def test_functional_round_trip_and_weights_h5(tmp_path):
    model, xs = _functional_model()
    model.save(tmp_path / "f.keras")
    back = load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(back.predict(xs, verbose=0), model.predict(xs, verbose=0),
                               rtol=1e-6, atol=1e-6)
    model.save_weights(tmp_path / "f.weights.h5")
    assert (tmp_path / "f.weights.h5").read_bytes()[:4] == b"\x89HDF"
    fresh, _ = _functional_model()
    fresh.load_weights(tmp_path / "f.weights.h5")
    np.testing.assert_allclose(fresh.predict(xs, verbose=0), model.predict(xs, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_batch_normalization_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    model = fastff.Sequential([Input(shape=(6,)), Dense(8, activation="relu"),
                               fastff.layers.BatchNormalization(momentum=0.9, epsilon=1e-2,
                                                                name="bn"),
                               Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, 3, 32), epochs=2, verbose=0)
    model.save(tmp_path / "bn.keras")
    with zipfile.ZipFile(tmp_path / "bn.keras") as z:
        cfg = json.loads(z.read("config.json"))["config"]["layers"][2]
    assert cfg["class_name"] == "BatchNormalization"
    assert cfg["config"]["momentum"] == 0.9 and cfg["config"]["epsilon"] == 0.01
    back = load_model(tmp_path / "bn.keras")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    bn = back.get_layer("bn")
    np.testing.assert_array_equal(bn.moving_variance.numpy(),
                                  model.get_layer("bn").moving_variance.numpy())


def test_layer_normalization_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 6)).astype(np.float32)
    model = fastff.Sequential([Input(shape=(6,)), Dense(8, activation="relu"),
                               fastff.layers.LayerNormalization(epsilon=1e-2, center=False),
                               Dense(4), fastff.layers.LayerNormalization(rms_scaling=True),
                               Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, rng.standard_normal((16, 2)), epochs=2, verbose=0)
    model.save(tmp_path / "ln.keras")
    back = load_model(tmp_path / "ln.keras")
    assert [w.shape for w in back.get_weights()] == [w.shape for w in model.get_weights()]
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unsupported_layers_are_refused_by_name(tmp_path):
    model = fastff.Sequential([WindowEmbedding(5, 2, input_shape=(3,), name="win"), Dense(2)])
    with pytest.raises(ValueError, match="win.*WindowEmbedding"):
        model.save(tmp_path / "w.keras")
    assert not (tmp_path / "w.keras").exists()


# ------------------------------------------------------------------ refusing code
def _rewrite(src: pathlib.Path, dst: pathlib.Path, edit) -> pathlib.Path:
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["config.json"] = json.dumps(edit(json.loads(members["config.json"]))).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return dst


@pytest.mark.parametrize("payload,match", [
    ({"module": "keras.layers", "class_name": "Lambda",
      "config": {"name": "lam", "function": {"class_name": "__lambda__",
                                             "config": {"code": "print(1)"}}},
      "registered_name": None}, "Lambda|__lambda__"),
    ({"module": "my_package.layers", "class_name": "MyLayer", "config": {"name": "x"},
      "registered_name": "my_package>MyLayer"}, "MyLayer"),
    ({"module": "keras.layers", "class_name": "Conv2D", "config": {"name": "conv"},
      "registered_name": None}, "Conv2D"),
    ({"module": "keras.layers", "class_name": "Dense",
      "config": {"name": "d", "units": 2, "activation": {
          "module": "builtins", "class_name": "function", "config": "exec",
          "registered_name": "function"}}, "registered_name": None}, "function"),
])
def test_code_and_unknown_classes_are_refused(tmp_path, payload, match):
    def edit(doc):
        doc["config"]["layers"].insert(1, payload)
        return doc

    path = _rewrite(FIXTURES / "sequential_dense.keras", tmp_path / "evil.keras", edit)
    with pytest.raises(FormatError, match=match):
        load_model(path)


# ------------------------------------------------------------------ hostile files
def test_zip_bomb_refused_before_extracting(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\0" * (32 << 20))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(FormatError, match="zip bomb|ratio"):
        load_model(path)


def test_huge_declared_shapes_fail_before_allocating(tmp_path):
    def edit(doc):
        doc["config"]["layers"][1]["config"]["units"] = 1 << 30
        return doc

    path = _rewrite(FIXTURES / "sequential_dense.keras", tmp_path / "huge.keras", edit)
    with pytest.raises(FormatError, match="shape|weight data"):
        load_model(path)

    # an HDF5 dataset that declares a huge shape it does not store
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        g = h5.create_group("layers/dense/vars")
        g.create_dataset("0", shape=(1 << 20, 1 << 12), dtype="f4", chunks=(64, 64))
        g.create_dataset("1", shape=(1 << 12,), dtype="f4")
        h5.create_group("vars")
    doc = {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {
        "name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 1 << 20]}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 1 << 12}}]}}
    with zipfile.ZipFile(tmp_path / "sparse.keras", "w") as z:
        z.writestr("config.json", json.dumps(doc))
        z.writestr("model.weights.h5", buf.getvalue())
    with pytest.raises(FormatError, match="weight data"):
        load_model(tmp_path / "sparse.keras")


def test_deterministic_mutation_fuzz(tmp_path):
    """Truncations, byte flips and JSON edits of a real Keras file: each load either works
    or raises FormatError (never another exception, never a hang)."""
    raw = (FIXTURES / "functional_two_inputs.keras").read_bytes()
    rng = random.Random(1234)
    cases = [raw[:n] for n in (0, 3, 4, 30, 100, len(raw) // 2, len(raw) - 22, len(raw) - 1)]
    for _ in range(60):
        b = bytearray(raw)
        for _ in range(rng.choice((1, 4, 32))):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5")
    json_edits = []
    for _ in range(40):
        doc = json.loads(json.dumps(config))
        layer = rng.choice(doc["config"]["layers"])
        key = rng.choice(sorted(layer["config"]))
        layer["config"][key] = rng.choice([None, -1, 0, 1 << 40, "x", [], {}, [None], 2.5, True])
        json_edits.append(doc)
    json_edits.append({"config": [[[[[]]]]] * 3})
    json_edits.append(json.loads("[" * 50 + "]" * 50))
    for doc in json_edits:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("config.json", json.dumps(doc))
            z.writestr("model.weights.h5", weights)
        cases.append(buf.getvalue())
    for _ in range(20):  # damage inside the HDF5 file itself
        w = bytearray(weights)
        for _ in range(rng.choice((1, 8))):
            w[rng.randrange(len(w))] = rng.randrange(256)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", bytes(w))
        cases.append(buf.getvalue())
    path = tmp_path / "fuzz.keras"
    outcomes = {"ok": 0, "refused": 0}
    for data in cases:
        path.write_bytes(data)
        try:
            keras_format.load_keras(path)
            outcomes["ok"] += 1
        except FormatError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > len(cases) // 2


# ------------------------------------------------------------------ with real Keras 3
KERAS_PYTHON = os.environ.get("FASTFF_KERAS_PYTHON")
needs_keras = pytest.mark.skipif(
    not KERAS_PYTHON or not os.path.exists(KERAS_PYTHON),
    reason="set FASTFF_KERAS_PYTHON to a Python with keras 3 (torch backend) for the "
           "round trips through Keras itself")


def _keras(*args, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_models.py"), *map(str, args)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _keras_predict(path, xs, tmp_path):
    np.savez(tmp_path / "in.npz", **{f"{i}_x": x for i, x in enumerate(xs)})
    out = _keras("predict", path, tmp_path / "in.npz", tmp_path / "out.npy", tmp_path=tmp_path)
    return np.load(tmp_path / "out.npy"), out


@needs_keras
def test_keras_loads_what_fastff_saves(tmp_path):
    # every activation, float32, Sequential; then a functional embedding model
    rng = np.random.default_rng(3)
    layers = [Input(shape=(4,), name="x")] + [Dense(3, activation=a) for a in ACTIVATIONS]
    seq = fastff.Sequential(layers + [Dropout(0.5), Dense(2)])
    seq.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((7, 4)).astype(np.float32)
    seq.fit(x, rng.standard_normal((7, 2)), epochs=1, verbose=0)
    seq.save(tmp_path / "seq.keras")
    got, out = _keras_predict(tmp_path / "seq.keras", [x], tmp_path)
    np.testing.assert_allclose(got, seq.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert f"iterations {seq.optimizer.iterations}" in out
    fun, xs = _functional_model()
    fun.save(tmp_path / "fun.keras")
    got, _ = _keras_predict(tmp_path / "fun.keras", xs, tmp_path)
    np.testing.assert_allclose(got, fun.predict(xs, verbose=0), rtol=1e-6, atol=1e-6)
    # .weights.h5 from fastff into Keras: other weights, same architecture
    other, _ = _functional_model()
    for p in other.weights:
        p.assign(np.random.default_rng(5).standard_normal(p.shape).astype(p.value.dtype))
    other.save_weights(tmp_path / "other.weights.h5")
    _keras("predict_weights", tmp_path / "fun.keras", tmp_path / "other.weights.h5",
           tmp_path / "in.npz", tmp_path / "w.npy", tmp_path=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "w.npy"), other.predict(xs, verbose=0),
                               rtol=1e-6, atol=1e-6)


@needs_keras
def test_keras_loads_activity_regularizers_and_activation_arguments(tmp_path):
    from fastff import layers as L
    from fastff import regularizers

    rng = np.random.default_rng(8)
    m = fastff.Sequential([
        Input(shape=(3,), name="x"),
        Dense(6, activation="hard_swish", activity_regularizer=regularizers.l1_l2(0.01, 0.1)),
        L.ReLU(max_value=2.0, threshold=0.1, negative_slope=0.05), L.Reshape((2, 3)),
        L.Softmax(axis=1, activity_regularizer="l2"), L.Flatten(), Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((5, 3)).astype(np.float32)
    m.fit(x, rng.standard_normal((5, 2)), epochs=1, verbose=0)
    m.save(tmp_path / "act.keras")
    got, _ = _keras_predict(tmp_path / "act.keras", [x], tmp_path)
    np.testing.assert_allclose(got, m.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@needs_keras
def test_keras_loads_normalization_layers_from_fastff(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    model = fastff.Sequential([Input(shape=(5,), name="x"), Dense(4, activation="tanh"),
                               fastff.layers.BatchNormalization(center=False), Dense(3),
                               fastff.layers.LayerNormalization(epsilon=1e-2), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, rng.standard_normal((16, 2)), epochs=2, verbose=0)
    model.save(tmp_path / "bn.keras")
    got, _ = _keras_predict(tmp_path / "bn.keras", [x], tmp_path)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@needs_keras
def test_fastff_loads_what_keras_saves(tmp_path):
    _keras("make", tmp_path, tmp_path=tmp_path)
    for name in NAMES:
        data = np.load(tmp_path / f"{name}.npz")
        model = load_model(tmp_path / f"{name}.keras")
        np.testing.assert_allclose(model.predict(_x(_inputs(data)), verbose=0), data["y"],
                                   rtol=1e-6, atol=1e-6)
        _keras("weights", tmp_path / f"{name}.keras", tmp_path / f"{name}.weights.h5",
               tmp_path=tmp_path)
        fresh = load_model(tmp_path / f"{name}.keras", compile=False)
        for p in fresh.weights:
            p.assign(np.zeros(p.shape, p.value.dtype))
        fresh.load_weights(tmp_path / f"{name}.weights.h5")
        np.testing.assert_allclose(fresh.predict(_x(_inputs(data)), verbose=0), data["y"],
                                   rtol=1e-6, atol=1e-6)
