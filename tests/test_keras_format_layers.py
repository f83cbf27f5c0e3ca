"""Keras 3 ``.keras`` files with the merge, PReLU, shaping, preprocessing, noise, global
pooling and masking layers: fastff -> .keras -> fastff predicts identically; with
``FASTFF_KERAS_PYTHON`` (a Python with keras 3, torch backend) one subprocess loads what
fastff wrote and writes the same architectures built by Keras
(tests/fixtures/keras/keras_layers.py), both compared to 1e-6."""

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
from fastff import layers as L  # noqa: E402
from fastff.models import load_model  # noqa: E402
from fastff.saving import FormatError  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
KERAS_PYTHON = os.environ.get("FASTFF_KERAS_PYTHON")


def preprocessing(rng):
    x = rng.standard_normal((9, 6)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x * 3 + 1)
    m = fastff.Sequential([
        L.Input(shape=(6,), name="x"), L.Rescaling(0.5, offset=0.1), norm, L.Dense(8),
        L.PReLU(alpha_initializer="random_normal"), L.GaussianNoise(0.1),
        L.GaussianDropout(0.2), L.AlphaDropout(0.1), L.Reshape((4, 2)),
        L.PReLU(alpha_initializer="random_normal", shared_axes=[1]), L.Permute((2, 1)),
        L.SpatialDropout1D(0.2), L.Identity(), L.GlobalAveragePooling1D(),
        L.UnitNormalization(),
        L.Normalization(mean=[0.1, 0.2, 0.3, 0.4], variance=[1.0, 2.0, 0.5, 4.0]),
        L.Dense(3), L.Dropout(0.2, noise_shape=(None, 1))])
    return m, [x]


def binning(rng):
    m = fastff.Sequential([L.Input(shape=(3,)), L.Discretization(bin_boundaries=[-0.5, 0, 0.5]),
                           L.CategoryEncoding(num_tokens=4, output_mode="count"), L.Dense(2)])
    return m, [rng.standard_normal((7, 3)).astype(np.float32)]


def masked_embedding(rng):
    m = fastff.Sequential([L.Input(shape=(5,), dtype="int32"), L.Embedding(6, 3, mask_zero=True),
                           L.GlobalAveragePooling1D(), L.Dense(2)])
    ids = rng.integers(1, 6, (7, 5)).astype(np.int32)
    ids[:, 3:] = 0
    return m, [ids]


def repeat(rng):
    m = fastff.Sequential([L.Input(shape=(4,)), L.RepeatVector(3),
                           L.GlobalMaxPooling1D(keepdims=True), L.Flatten(), L.Dense(2)])
    return m, [rng.standard_normal((7, 4)).astype(np.float32)]


def merges(rng):
    a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(4,), name="b")
    c = L.Input(shape=(3, 2), name="c")
    merged = [L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b]),
              L.Average()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b]),
              L.Dot(axes=1, normalize=True)([a, b]), L.Dot(axes=1)([a, b]),
              L.GlobalAveragePooling1D()(L.Masking(0.0)(c))]
    m = fastff.Model([a, b, c], L.Dense(2)(L.Concatenate()(merged)))
    cx = rng.standard_normal((7, 3, 2)).astype(np.float32)
    cx[:, 2] = 0
    return m, [rng.standard_normal((7, 4)).astype(np.float32),
               rng.standard_normal((7, 4)).astype(np.float32), cx]


def nested_sequential(rng):
    inner = fastff.Sequential([L.Input(shape=(4,)), L.Dense(3, activation="tanh"), L.Dense(3)],
                              name="enc")
    m = fastff.Sequential([L.Input(shape=(4,)), inner,
                           L.PReLU(alpha_initializer="random_normal"), L.Dense(2)])
    return m, [rng.standard_normal((5, 4)).astype(np.float32)]


def nested_functional(rng):
    deep = fastff.Sequential([L.Input(shape=(3,)), L.Dense(4)], name="deep")
    inner = fastff.Sequential([L.Input(shape=(4,)), L.Dense(3), deep], name="enc")
    a = L.Input(shape=(4,), name="a")
    m = fastff.Model(a, L.Dense(1)(L.Concatenate()([inner(a), a])))
    return m, [rng.standard_normal((5, 4)).astype(np.float32)]


def nested_graph(rng):
    """A functional model (branching, with a Sequential inside) used as a layer of a
    Sequential."""
    i = L.Input(shape=(4,), name="ii")
    deep = fastff.Sequential([L.Input(shape=(4,)), L.Dense(3, activation="tanh")], name="deep_seq")
    branch = L.Concatenate()([deep(i), L.Dense(2)(i)])
    graph = fastff.Model(i, L.Dense(2)(branch), name="graph")
    m = fastff.Sequential([L.Input(shape=(4,)), graph, L.Dense(1)])
    return m, [rng.standard_normal((5, 4)).astype(np.float32)]


MODELS = {"preprocessing": preprocessing, "binning": binning,
          "masked_embedding": masked_embedding, "repeat": repeat, "merges": merges,
          "nested_sequential": nested_sequential, "nested_functional": nested_functional,
          "nested_graph": nested_graph}


def _x(xs):
    return xs if len(xs) > 1 else xs[0]


def _inputs(npz):
    return [npz[k] for k in sorted((k for k in npz.files if k.endswith("_x")),
                                   key=lambda k: int(k.split("_")[0]))]


def _save_all(tmp_path):
    """Every model saved as ff_<name>.keras with its inputs (ff_<name>.npz)."""
    out = {}
    for i, (name, build) in enumerate(MODELS.items()):
        model, xs = build(np.random.default_rng(i))
        model.compile(optimizer="adam", loss="mse")
        if name.startswith("nested"):  # one step: the optimizer state goes along
            y = model.predict(xs[0], verbose=0)
            model.fit(xs[0], np.zeros_like(y), epochs=1, verbose=0)
        model.save(tmp_path / f"ff_{name}.keras")
        np.savez(tmp_path / f"ff_{name}.npz", **{f"{j}_x": x for j, x in enumerate(xs)})
        out[name] = (model, xs)
    return out


def test_fastff_round_trip_of_every_layer(tmp_path):
    for name, (model, xs) in _save_all(tmp_path).items():
        back = load_model(tmp_path / f"ff_{name}.keras")
        np.testing.assert_array_equal(back.predict(_x(xs), verbose=0),
                                      model.predict(_x(xs), verbose=0), err_msg=name)
        assert [type(la).__name__ for la in back.layers] == \
            [type(la).__name__ for la in model.layers], name
        if name.startswith("nested"):
            assert back.optimizer.iterations == 1
            for k, v in model.optimizer.get_state().items():
                np.testing.assert_array_equal(back.optimizer.get_state()[k], v, err_msg=name)
        for a, b in zip(back.get_weights(), model.get_weights()):
            if name == "masked_embedding" and a.shape == (6, 3):  # padding row written as 0
                b = np.concatenate([np.zeros_like(b[:1]), b[1:]])
            np.testing.assert_array_equal(a, b, err_msg=name)
    # the configs carry Keras's keys; Normalization's count is Keras's int64 scalar
    with zipfile.ZipFile(tmp_path / "ff_preprocessing.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
        import h5py

        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h5:
            count = h5["layers/normalization/vars/2"]
            assert count.shape == () and count.dtype == np.int64 and count[()] == 9
            assert h5["layers/p_re_lu_1/vars/0"].shape == (1, 2)
    cfg = {s["class_name"]: s["config"] for s in layers}
    assert cfg["Normalization"]["axis"] == [-1] and cfg["Normalization"]["invert"] is False
    assert cfg["Dropout"]["noise_shape"] == [None, 1]
    assert "trainable" not in cfg["SpatialDropout1D"]
    assert cfg["Reshape"]["target_shape"] == [4, 2] and cfg["Permute"]["dims"] == [2, 1]


def test_weights_h5_round_trip(tmp_path):
    model, xs = preprocessing(np.random.default_rng(0))
    model.save_weights(tmp_path / "p.weights.h5")
    fresh, _ = preprocessing(np.random.default_rng(7))
    fresh.load_weights(tmp_path / "p.weights.h5")
    np.testing.assert_array_equal(fresh.predict(_x(xs), verbose=0),
                                  model.predict(_x(xs), verbose=0))


def _edit(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    doc = json.loads(members["config.json"])
    edit(doc)
    members["config.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return dst


def _layer(doc, cls):
    return next(s for s in doc["config"]["layers"] if s["class_name"] == cls)


@pytest.mark.parametrize("cls,key,value,match", [
    ("Reshape", "target_shape", [0, 8], "target_shape"),
    ("Reshape", "target_shape", "4,2", "target_shape"),
    ("Permute", "dims", [1, 1], "dims"),
    ("PReLU", "shared_axes", [5], "shared axis"),
    ("Normalization", "variance", [1.0, -2.0, 1.0, 1.0], "variance"),
    ("Normalization", "mean", [[1.0], 2.0], "mean"),
    ("Rescaling", "scale", "x", "scale"),
    ("GaussianNoise", "stddev", -1, "stddev"),
    ("AlphaDropout", "rate", 1.5, "rate"),
    ("SpatialDropout1D", "seed", 2.5, "seed"),
    ("GlobalAveragePooling1D", "data_format", "channels_middle", "data_format"),
    ("Dropout", "noise_shape", [None, 0], "noise_shape"),
])
def test_bad_fields_are_refused_by_layer_and_key(tmp_path, cls, key, value, match):
    model, _ = preprocessing(np.random.default_rng(0))
    model.save(tmp_path / "p.keras")

    def edit(doc):
        target = _layer(doc, cls) if cls != "Normalization" else \
            [s for s in doc["config"]["layers"] if s["class_name"] == cls][-1]
        target["config"][key] = value

    path = _edit(tmp_path / "p.keras", tmp_path / "bad.keras", edit)
    with pytest.raises(FormatError, match=match):
        load_model(path)


def test_merge_and_mask_refusals(tmp_path):
    model, _ = merges(np.random.default_rng(0))
    model.save(tmp_path / "m.keras")

    def dot_axes(doc):
        _layer(doc, "Dot")["config"]["axes"] = [1, 2, 3]

    with pytest.raises(FormatError, match="axes"):
        load_model(_edit(tmp_path / "m.keras", tmp_path / "a.keras", dot_axes))

    def foreign_mask(doc):  # a mask from an operation fastff would not derive
        ops = [{"module": "keras.src.ops.numpy", "class_name": "NotEqual",
                "config": {"name": "ne"}, "registered_name": "NotEqual", "name": "ne",
                "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                    "shape": [None, 3, 2], "dtype": "float32", "keras_history": ["c", 0, 0]}},
                    7.0], "kwargs": {}}]},
               {"module": "keras.src.ops.numpy", "class_name": "Any",
                "config": {"name": "any", "axis": -1, "keepdims": False},
                "registered_name": "Any", "name": "any",
                "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                    "shape": [None, 3, 2], "dtype": "bool", "keras_history": ["ne", 0, 0]}}],
                    "kwargs": {}}]}]
        doc["config"]["layers"][1:1] = ops
        gap = _layer(doc, "GlobalAveragePooling1D")
        gap["inbound_nodes"][0]["kwargs"]["mask"] = {"class_name": "__keras_tensor__",
                                                     "config": {"keras_history": ["any", 0, 0]}}

    with pytest.raises(FormatError, match="mask fastff does not derive"):
        load_model(_edit(tmp_path / "m.keras", tmp_path / "b.keras", foreign_mask))

    def merge_in_sequence(doc):
        _layer(doc, "Add")["inbound_nodes"][0]["args"] = \
            _layer(doc, "Add")["inbound_nodes"][0]["args"][0][:1]

    with pytest.raises(FormatError):
        load_model(_edit(tmp_path / "m.keras", tmp_path / "c.keras", merge_in_sequence))


def test_normalization_count_checked_against_the_file(tmp_path):
    model, _ = preprocessing(np.random.default_rng(0))
    model.save(tmp_path / "p.keras")
    import h5py

    with zipfile.ZipFile(tmp_path / "p.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as h5:
        del h5["layers/normalization/vars/2"]
        h5["layers/normalization/vars"].create_dataset("2", data=np.zeros((3,), np.int64))
    members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(FormatError, match="normalization/vars/2 has shape"):
        load_model(tmp_path / "bad.keras")


def _fuzz(path, tmp_path, seed, rounds=25):
    """JSON edits of a file's layer configs and call arguments: each load works or raises
    FormatError (never another exception); returns how many were refused."""
    rng = random.Random(seed)
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5")
    refused = 0
    for _ in range(rounds):
        doc = json.loads(json.dumps(config))
        layer = rng.choice(doc["config"]["layers"][1:])
        value = rng.choice([None, -1, 0, 1 << 40, "x", [], {}, [None], 2.5, True, [1, 2, 3],
                            float("nan"), {"class_name": "__keras_tensor__", "config": {}}])
        if layer.get("inbound_nodes") and rng.random() < 0.3:
            node = layer["inbound_nodes"][0]
            node[rng.choice(["args", "kwargs"])] = value if rng.random() < 0.5 else \
                {"mask": value}
        else:
            layer["config"][rng.choice(sorted(layer["config"]))] = value
        bad = tmp_path / "fuzz.keras"
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("config.json", json.dumps(doc))
            z.writestr("model.weights.h5", weights)
        try:
            keras_format.load_keras(bad, compile=False)
        except FormatError:
            refused += 1
    return refused


def test_mutated_configs_load_or_raise_format_error(tmp_path):
    for i, name in enumerate(("preprocessing", "merges", "nested_functional")):
        model, _ = MODELS[name](np.random.default_rng(0))
        model.save(tmp_path / f"{name}.keras")
        assert _fuzz(tmp_path / f"{name}.keras", tmp_path, 99 + i) > 5


def test_nested_layout_and_refusals(tmp_path):
    model, _ = nested_functional(np.random.default_rng(0))
    model.save(tmp_path / "n.keras")
    import h5py

    with zipfile.ZipFile(tmp_path / "n.keras") as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h5:
            names = []
            h5.visit(names.append)
    # Keras's layout: a nested model's layers under its own group, counted per container
    assert "layers/sequential/layers/dense/vars/0" in names
    assert "layers/sequential/layers/sequential/layers/dense/vars/1" in names
    assert "layers/dense/vars/0" in names and "layers/input_layer/vars" in names

    def wrong_input(doc):
        inner = _layer(doc, "Sequential")["config"]["layers"][0]
        inner["config"]["batch_shape"] = [None, 5]

    with pytest.raises(FormatError, match="shape"):
        load_model(_edit(tmp_path / "n.keras", tmp_path / "w.keras", wrong_input))

    def custom(doc):
        _layer(doc, "Sequential")["registered_name"] = "my>Sequential"

    with pytest.raises(FormatError, match="nested Sequential"):
        load_model(_edit(tmp_path / "n.keras", tmp_path / "c.keras", custom))

    # an inner Sequential without an Input of its own takes the shape it was built with
    inner = fastff.Sequential([L.Dense(3), L.Dense(2)], name="no_input")
    outer = fastff.Sequential([L.Input(shape=(4,)), inner, L.Dense(1)])
    outer.save(tmp_path / "i.keras")
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(load_model(tmp_path / "i.keras").predict(x, verbose=0),
                                  outer.predict(x, verbose=0))

    a, b = L.Input(shape=(4,)), L.Input(shape=(2,))
    two = fastff.Model([a, b], L.Dense(2)(L.Concatenate()([a, b])), name="two_inputs")
    c, d = L.Input(shape=(4,)), L.Input(shape=(2,))
    outer = fastff.Model([c, d], L.Dense(1)(two([c, d])))
    outer.save(tmp_path / "f.keras")  # a nested model of two inputs, called on a list
    xs = [np.ones((2, 4), np.float32), np.linspace(0, 1, 4, dtype=np.float32).reshape(2, 2)]
    np.testing.assert_array_equal(load_model(tmp_path / "f.keras").predict(xs, verbose=0),
                                  outer.predict(xs, verbose=0))


def test_unmappable_settings_refused_on_save(tmp_path):
    """(Lookup layers save with their vocabularies: tests/test_keras_format_lookup.py.)"""
    noisy = fastff.Sequential([L.Input(shape=(2,)), L.GaussianNoise(2.0, name="noise")])
    with pytest.raises(ValueError, match="noise.*stddev"):
        noisy.save(tmp_path / "noise.keras")


# ------------------------------------------------------------------ with real Keras 3
@pytest.mark.skipif(not KERAS_PYTHON or not os.path.exists(KERAS_PYTHON),
                    reason="set FASTFF_KERAS_PYTHON to a Python with keras 3 (torch backend)")
def test_both_ways_through_keras(tmp_path):
    saved = _save_all(tmp_path)
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_layers.py"), "run", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    for name, (model, xs) in saved.items():  # fastff wrote, Keras predicts
        np.testing.assert_allclose(np.load(tmp_path / f"ff_{name}.out.npy"),
                                   model.predict(_x(xs), verbose=0), rtol=1e-6, atol=1e-6,
                                   err_msg=name)
    for name in MODELS:  # Keras wrote, fastff predicts
        data = np.load(tmp_path / f"k_{name}.npz")
        model = load_model(tmp_path / f"k_{name}.keras")
        np.testing.assert_allclose(model.predict(_x(_inputs(data)), verbose=0), data["y"],
                                   rtol=1e-6, atol=1e-6, err_msg=name)
        fresh = load_model(tmp_path / f"k_{name}.keras", compile=False)
        for p in fresh.weights:  # Keras's .weights.h5 into a fastff model
            p.assign(np.zeros(p.shape, p.value.dtype))
        fresh.load_weights(tmp_path / f"k_{name}.weights.h5")
        np.testing.assert_allclose(fresh.predict(_x(_inputs(data)), verbose=0), data["y"],
                                   rtol=1e-6, atol=1e-6, err_msg=name)
    # Keras's files (with its mask operations and nested groups) under mutation
    for i, name in enumerate(("merges", "nested_functional")):
        assert _fuzz(tmp_path / f"k_{name}.keras", tmp_path, 7 + i, rounds=20) > 4
    # Keras's masked Embedding keeps a nonzero row 0: read with its mask (the pooling
    # consumes it), not with mask_zero=False
    emb = load_model(tmp_path / "k_masked_embedding.keras").layers[0]
    assert emb.mask_zero and np.any(emb.get_weights()[0][0] != 0)
