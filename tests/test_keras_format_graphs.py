"""Keras 3 ``.keras`` files of shared layers (one layer called on several tensors), nested
functional models of two inputs, and custom layers: fastff -> .keras -> fastff predicts
identically; Keras's layout (a shared layer listed once with one inbound node per call, its
weights once; a custom class by its registered name, resolved from ``custom_objects`` or
the registry only); committed files written by Keras 3.15.1 (``tests/fixtures/keras``, made
by ``keras_graphs.py make DIR``); with ``FASTFF_KERAS_PYTHON`` (a Python with keras 3, torch
backend) one subprocess (``keras_graphs.py run DIR``) loads what fastff wrote and writes the
same architectures built by Keras, compared to 1e-5."""

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
from fastff import keras_format, ops  # noqa: E402
from fastff import layers as L  # noqa: E402
from fastff.layers import Layer  # noqa: E402
from fastff.models import load_model  # noqa: E402
from fastff.saving import FormatError, register_keras_serializable  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
KERAS_PYTHON = os.environ.get("FASTFF_KERAS_PYTHON")


@register_keras_serializable(package="fastff_test")
class Scale(Layer):
    """x * w * factor, one weight per feature (Keras's twin: keras_graphs.py)."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal",
                                 name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register_keras_serializable(package="fastff_test")
class Gated(Layer):
    """A sublayer (``proj``) and an own weight: proj(x) * sigmoid(gate)."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = L.Dense(units)

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(self.units,), initializer="random_normal",
                                    name="gate")

    def call(self, x):
        return self.proj(x) * ops.sigmoid(self.gate)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Unregistered(Layer):
    """Known only through custom_objects: x + b."""

    def build(self, input_shape):
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="random_normal",
                                 name="b")

    def call(self, x):
        return x + self.b


@register_keras_serializable(package="fastff_test")
class Mix(Layer):
    """A call on a list of two tensors: tanh(a @ w) * b + a[:, :1] (Keras's twin:
    keras_graphs.py)."""

    def build(self, input_shape):
        a, b = input_shape
        self.w = self.add_weight(shape=(a[-1], b[-1]), initializer="random_normal",
                                 name="w")

    def call(self, inputs):
        a, b = inputs
        return ops.tanh(ops.matmul(a, self.w)) * b + a[:, :1]


CUSTOM = {"Unregistered": Unregistered}


def shared(rng):
    a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(4,), name="b")
    d = L.Dense(3, activation="tanh", name="shared")
    out = L.Dense(2, name="head")(L.Concatenate(name="cat")([d(b), d(a)]))
    m = fastff.Model([a, b], out, name="shared_model")
    return m, [rng.standard_normal((6, 4)).astype("float32") for _ in range(2)]


def shared_deep(rng):
    x = L.Input(shape=(4,), name="x")
    a, drop = L.Dense(4, activation="relu", name="a"), L.Dropout(0.3, name="drop")
    h = a(drop(L.Dense(4, name="b")(drop(a(x)))))
    return fastff.Model(x, L.Dense(1, name="out")(h)), [
        rng.standard_normal((6, 4)).astype("float32")]


def nested_two_inputs(rng):
    i1, i2 = L.Input(shape=(4,), name="i1"), L.Input(shape=(3,), name="i2")
    inner = fastff.Model([i1, i2], L.Dense(2, name="d_in")(L.Concatenate(name="c_in")([i1, i2])),
                         name="inner")
    o1, o2 = L.Input(shape=(4,), name="o1"), L.Input(shape=(3,), name="o2")
    h1 = inner([o1, o2])
    h2 = inner([L.Dense(4, name="pre")(o1), o2])
    m = fastff.Model([o1, o2], [L.Add(name="add")([h1, h2]), h2], name="outer")
    return m, [rng.standard_normal((6, 4)).astype("float32"),
               rng.standard_normal((6, 3)).astype("float32")]


def custom_seq(rng):
    m = fastff.Sequential([L.Input(shape=(4,)), L.Dense(5), Scale(1.5), Gated(3),
                           Unregistered(), L.Dense(2)], name="custom_seq")
    return m, [rng.standard_normal((6, 4)).astype("float32")]


def custom_fn(rng):
    x = L.Input(shape=(4,), name="x")
    s = Scale(0.5, name="sc")
    h = L.Add(name="sum")([s(x), s(L.Dense(4, name="d")(x))])
    return fastff.Model(x, Gated(2, name="g")(h), name="custom_fn"), [
        rng.standard_normal((6, 4)).astype("float32")]


def custom_list(rng):
    a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(3,), name="b")
    mix = Mix(name="mix")
    h = mix([L.Dense(4, name="d")(a), b])
    m = fastff.Model([a, b], L.Dense(2, name="out")(mix([a, h])), name="custom_list")
    return m, [rng.standard_normal((6, 4)).astype("float32"),
               rng.standard_normal((6, 3)).astype("float32")]


def passthrough(rng):
    a = L.Input(shape=(4,), name="a")
    return fastff.Model(a, [L.Dense(2, name="d")(a), a], name="passthrough"), [
        rng.standard_normal((6, 4)).astype("float32")]


def nested_outputs(rng):
    """Nested functional models of several outputs (a list, and a dict whose sorted keys
    give Keras's tensor index), called twice / once; their outputs read by a layer and
    given out as the outer model's."""
    i = L.Input(shape=(4,), name="i")
    h = L.Dense(3, activation="tanh", name="h")(i)
    inner = fastff.Model(i, [L.Dense(2, name="p")(h), h], name="inner")
    di = L.Input(shape=(4,), name="di")
    dh = L.Dense(3, name="dh")(di)
    dinner = fastff.Model(di, {"z": L.Dense(2, name="dp")(dh), "a": dh}, name="dinner")
    x = L.Input(shape=(4,), name="x")
    p1, h1 = inner(x)
    _, h2 = inner(L.Dense(4, name="pre")(x))
    d = dinner(x)
    out = L.Dense(2, name="head")(L.Concatenate(name="cat")([p1, h2, d["a"], d["z"]]))
    m = fastff.Model(x, [out, h1, d["z"]], name="outer")
    return m, [rng.standard_normal((6, 4)).astype("float32")]


MODELS = {"shared": shared, "shared_deep": shared_deep, "nested_two_inputs": nested_two_inputs,
          "custom_seq": custom_seq, "custom_fn": custom_fn, "custom_list": custom_list,
          "passthrough": passthrough, "nested_outputs": nested_outputs}


def _x(xs):
    return xs if len(xs) > 1 else xs[0]


def _list(y):
    return y if isinstance(y, list) else [y]


def _inputs(npz):
    return [npz[k] for k in sorted((k for k in npz.files if k.endswith("_x")),
                                   key=lambda k: int(k.split("_")[0]))]


def _outputs(npz):
    return [npz[f"y{i}"] for i in range(sum(k.startswith("y") for k in npz.files))]


def _save_all(tmp_path):
    """Every model, trained one step, saved as ff_<name>.keras with its inputs."""
    out = {}
    for i, (name, build) in enumerate(MODELS.items()):
        fastff.utils.set_random_seed(i)
        model, xs = build(np.random.default_rng(i))
        model.compile(optimizer="adam", loss="mse")
        y = model.predict(_x(xs), verbose=0)
        model.fit(_x(xs), [np.zeros_like(v) for v in y] if isinstance(y, list)
                  else np.zeros_like(y), epochs=1, verbose=0)
        model.save(tmp_path / f"ff_{name}.keras")
        np.savez(tmp_path / f"ff_{name}.npz", **{f"{j}_x": x for j, x in enumerate(xs)})
        out[name] = (model, xs)
    return out


def _config(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _h5_names(path):
    import h5py

    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h5:
        names = []
        h5.visit(names.append)
    return names


def test_fastff_round_trip(tmp_path):
    for name, (model, xs) in _save_all(tmp_path).items():
        back = load_model(tmp_path / f"ff_{name}.keras", custom_objects=CUSTOM)
        for a, b in zip(_list(back.predict(_x(xs), verbose=0)),
                        _list(model.predict(_x(xs), verbose=0))):
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert len(back.get_weights()) == len(model.get_weights()), name
        for a, b in zip(back.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert back.optimizer.iterations == 1, name
        for k, v in model.optimizer.get_state().items():
            np.testing.assert_array_equal(back.optimizer.get_state()[k], v, err_msg=name)
        # and a .weights.h5 file into a fresh copy
        model.save_weights(tmp_path / f"{name}.weights.h5")
        fresh, _ = MODELS[name](np.random.default_rng(50))
        fresh.load_weights(tmp_path / f"{name}.weights.h5")
        for a, b in zip(_list(fresh.predict(_x(xs), verbose=0)),
                        _list(model.predict(_x(xs), verbose=0))):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_shared_layer_is_listed_once_with_a_node_per_call(tmp_path):
    model, _ = shared(np.random.default_rng(0))
    model.save(tmp_path / "s.keras")
    cfg = _config(tmp_path / "s.keras")["config"]
    # Keras's map_graph order: the input read first by the DFS from the output comes first
    assert [la["name"] for la in cfg["layers"]] == ["b", "a", "shared", "cat", "head"]
    sh = cfg["layers"][2]
    assert [n["args"][0]["config"]["keras_history"] for n in sh["inbound_nodes"]] == \
        [["b", 0, 0], ["a", 0, 0]]  # in call order: d(b) was called first
    cat = cfg["layers"][3]["inbound_nodes"][0]["args"][0]
    assert [t["config"]["keras_history"] for t in cat] == [["shared", 0, 0], ["shared", 1, 0]]
    names = _h5_names(tmp_path / "s.keras")
    assert "layers/dense/vars/0" in names and "layers/dense_1/vars/0" in names
    assert "layers/dense_2" not in names  # the shared Dense's weights are stored once


def test_nested_functional_output_counts_from_one(tmp_path):
    model, xs = nested_two_inputs(np.random.default_rng(0))
    model.save(tmp_path / "n.keras")
    cfg = _config(tmp_path / "n.keras")["config"]
    inner = next(la for la in cfg["layers"] if la["name"] == "inner")
    assert inner["class_name"] == "Functional" and len(inner["inbound_nodes"]) == 2
    assert cfg["output_layers"] == [["add", 0, 0], ["inner", 2, 0]]
    add = next(la for la in cfg["layers"] if la["name"] == "add")
    assert [t["config"]["keras_history"] for t in add["inbound_nodes"][0]["args"][0]] == \
        [["inner", 0, 0], ["inner", 1, 0]]
    assert "layers/functional/layers/dense/vars/0" in _h5_names(tmp_path / "n.keras")


@pytest.mark.parametrize("name", ["shared", "nested_two_inputs", "custom_seq", "custom_list",
                                  "passthrough", "nested_outputs"])
def test_files_written_by_keras(name, tmp_path):
    data = np.load(FIXTURES / f"k_{name}.npz")
    model = load_model(FIXTURES / f"k_{name}.keras", custom_objects=CUSTOM)
    for a, b in zip(_list(model.predict(_x(_inputs(data)), verbose=0)), _outputs(data)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    assert model.optimizer.iterations == 1
    # and fastff writes it back in the layout Keras wrote
    keras_doc = _config(FIXTURES / f"k_{name}.keras")
    model.save(tmp_path / "again.keras")
    again = _config(tmp_path / "again.keras")
    assert [la["config"]["name"] for la in again["config"]["layers"]] == \
        [la["config"]["name"] for la in keras_doc["config"]["layers"]]
    assert sorted(_h5_names(tmp_path / "again.keras")) == \
        sorted(_h5_names(FIXTURES / f"k_{name}.keras"))


def test_shared_layer_gradients_sum_over_calls_float64(tmp_path):
    """Central differences through a model read from a .keras file: one layer at two
    depths (its gradient the sum over both calls), and a shared custom layer."""
    from fastff.testing import check_grads

    x = L.Input(shape=(4,), name="x")
    a, s = L.Dense(4, activation="tanh", name="a"), Scale(0.7, name="s")
    out = L.Dense(2, name="out")(s(a(L.Dense(4, name="b")(s(a(x))))))
    model = fastff.Model(x, out)
    model.save(tmp_path / "deep.keras")
    back = load_model(tmp_path / "deep.keras")
    assert len(back.trainable_weights) == 7  # a and s once
    rng = np.random.default_rng(0)
    assert check_grads(back, rng.standard_normal((5, 4))) < 1e-6


def test_custom_classes_come_from_custom_objects_or_the_registry_only(tmp_path):
    model, xs = custom_seq(np.random.default_rng(0))
    model.save(tmp_path / "c.keras")
    layers = _config(tmp_path / "c.keras")["config"]["layers"]
    scale = next(la for la in layers if la["class_name"] == "Scale")
    assert scale["registered_name"] == "fastff_test>Scale" and scale["config"]["factor"] == 1.5
    assert scale["module"] == __name__ and scale["build_config"] == {"input_shape": [None, 5]}
    names = _h5_names(tmp_path / "c.keras")
    assert "layers/gated/vars/0" in names and "layers/gated/proj/vars/1" in names
    with pytest.raises(FormatError, match=r"Unregistered.*custom_objects.*never loaded"):
        load_model(tmp_path / "c.keras")

    def edit(doc, **keys):
        spec = next(la for la in doc["config"]["layers"] if la["class_name"] == "Scale")
        spec.update(keys)

    for keys, match in [({"registered_name": "evil>Scale", "class_name": "Evil",
                          "module": "os"}, r"\(Evil\) is a custom class"),
                        ({"registered_name": None, "module": "keras.layers",
                          "class_name": "Conv2D"}, "Conv2D.*not supported")]:
        doc = _config(tmp_path / "c.keras")
        edit(doc, **keys)
        bad = _rewrite(tmp_path / "c.keras", tmp_path / "bad.keras", doc)
        with pytest.raises(FormatError, match=match):
            load_model(bad, custom_objects=CUSTOM)
    doc = _config(tmp_path / "c.keras")
    edit(doc, config={**scale["config"], "factor": "x", "extra": 1})
    with pytest.raises(FormatError, match="Scale.from_config failed"):
        load_model(_rewrite(tmp_path / "c.keras", tmp_path / "bad.keras", doc),
                   custom_objects=CUSTOM)
    # a class that is not a fastff Layer is refused
    with pytest.raises(FormatError, match="not a fastff Layer"):
        load_model(tmp_path / "c.keras", custom_objects={"Unregistered": dict})


def _rewrite(src, dst, doc=None, weights=None):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if doc is not None:
        members["config.json"] = json.dumps(doc).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return dst


def test_malformed_graphs_are_refused(tmp_path):
    model, _ = shared(np.random.default_rng(0))
    model.save(tmp_path / "s.keras")

    def load(edit):
        doc = _config(tmp_path / "s.keras")
        edit(doc["config"])
        return load_model(_rewrite(tmp_path / "s.keras", tmp_path / "bad.keras", doc))

    def node(cfg, layer, i=0):
        return next(la for la in cfg["layers"] if la["name"] == layer)["inbound_nodes"][i]

    cases = [
        (lambda c: node(c, "cat")["args"][0][0]["config"].update(keras_history=["shared", 5, 0]),
         "do not exist"),
        (lambda c: node(c, "cat")["args"][0][0]["config"].update(keras_history=["shared", -1, 0]),
         "keras_history"),
        (lambda c: node(c, "shared", 1)["args"][0]["config"].update(keras_history=["cat", 0, 0]),
         "do not exist|shapes"),  # a cycle through the shared layer
        (lambda c: c.update(output_layers=["shared", 2, 0]), "not a layer"),
        (lambda c: next(la for la in c["layers"] if la["name"] == "shared")["inbound_nodes"]
         .clear(), "never called"),
    ]
    for edit, match in cases:
        with pytest.raises(FormatError, match=match):
            load(edit)
    # a shared layer called on inputs of two shapes: fastff builds a layer once
    a, b = L.Input(shape=(4,), name="a"), L.Input(shape=(4,), name="b")
    c = L.Input(shape=(5,), name="c")

    def third_call(cfg):
        sh = next(la for la in cfg["layers"] if la["name"] == "shared")
        sh["inbound_nodes"].append({"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, 5], "dtype": "float32", "keras_history": ["c", 0, 0]}}],
            "kwargs": {}})
        cfg["layers"].insert(0, {"module": "keras.layers", "class_name": "InputLayer",
                                 "config": {"batch_shape": [None, 5], "dtype": "float32",
                                            "name": "c"}, "name": "c", "inbound_nodes": []})

    with pytest.raises(FormatError, match="shared layer 'shared'.*one input shape"):
        load(third_call)
    del a, b, c


def test_nested_outputs_layout_and_malformed_indices(tmp_path):
    """A nested model's k-th output is ``[inner, call, k]`` (a dict's in sorted-key order),
    ``output_layers`` counts its calls from 1; indices that name no output are refused."""
    model, xs = nested_outputs(np.random.default_rng(0))
    model.save(tmp_path / "n.keras")
    doc = _config(tmp_path / "n.keras")
    cfg = doc["config"]
    assert [la["name"] for la in cfg["layers"]] == ["x", "pre", "inner", "dinner", "cat",
                                                    "head"]
    cat = next(la for la in cfg["layers"] if la["name"] == "cat")
    assert [t["config"]["keras_history"] for t in cat["inbound_nodes"][0]["args"][0]] == \
        [["inner", 0, 0], ["inner", 1, 1], ["dinner", 0, 0], ["dinner", 0, 1]]
    assert cfg["output_layers"] == [["head", 0, 0], ["inner", 1, 1], ["dinner", 1, 1]]
    dinner = next(la for la in cfg["layers"] if la["name"] == "dinner")
    assert dinner["config"]["output_layers"] == {"a": ["dh", 0, 0], "z": ["dp", 0, 0]}

    def load(edit):
        d = json.loads(json.dumps(doc))
        edit(d["config"])
        return load_model(_rewrite(tmp_path / "n.keras", tmp_path / "bad.keras", d))

    def hist(c, i):
        layer = next(la for la in c["layers"] if la["name"] == "cat")
        return layer["inbound_nodes"][0]["args"][0][i]["config"]

    for edit, match in [
        (lambda c: hist(c, 1).update(keras_history=["inner", 1, 2]), "do not exist"),
        (lambda c: hist(c, 1).update(keras_history=["inner", 1, -1]), "keras_history"),
        (lambda c: hist(c, 1).update(keras_history=["inner", 1, 1 << 40]), "keras_history"),
        (lambda c: hist(c, 1).update(keras_history=["inner", 1, True]), "keras_history"),
        (lambda c: hist(c, 0).update(keras_history=["pre", 0, 1]), "do not exist"),
        (lambda c: c.update(output_layers=[["inner", 1, 5]]), "not a layer"),
        (lambda c: c.update(output_layers=[["inner", 0, 1]]), "not a layer"),
        (lambda c: c.update(input_layers=[["x", 0, 1]]), "not a layer|InputLayers"),
    ]:
        with pytest.raises(FormatError, match=match):
            load(edit)


def test_mutated_graph_files_load_or_raise_format_error(tmp_path):
    for i, name in enumerate(("shared_deep", "nested_two_inputs", "custom_fn", "custom_list",
                              "nested_outputs")):
        model, _ = MODELS[name](np.random.default_rng(0))
        model.save(tmp_path / f"{name}.keras")
        assert _fuzz(tmp_path / f"{name}.keras", tmp_path, 31 + i) > 5, name


def _fuzz(path, tmp_path, seed, rounds=30):
    """Edits of layer configs, inbound nodes and tensor histories: each load works or raises
    FormatError (never another exception); returns how many were refused."""
    rng = random.Random(seed)
    config = _config(path)
    refused = 0
    for _ in range(rounds):
        doc = json.loads(json.dumps(config))
        layer = rng.choice(doc["config"]["layers"])
        value = rng.choice([None, -1, 0, 1, 2, 1 << 40, "x", [], {}, [None], True, [1, 2, 3],
                            float("nan"), {"class_name": "__keras_tensor__", "config": {}}])
        nodes = layer.get("inbound_nodes") or []
        r = rng.random()
        if nodes and r < 0.4:
            node = rng.choice(nodes)
            args = node.get("args")
            tensor = args[0][0] if args and isinstance(args[0], list) else \
                args[0] if args else None
            if isinstance(tensor, dict) and rng.random() < 0.6:
                tensor["config"]["keras_history"][rng.randrange(3)] = value
            else:
                node[rng.choice(["args", "kwargs"])] = value
        elif nodes and r < 0.5:
            nodes.append(json.loads(json.dumps(rng.choice(nodes))))
        elif isinstance(layer.get("config"), dict) and layer["config"]:
            layer["config"][rng.choice(sorted(layer["config"]))] = value
        bad = _rewrite(path, tmp_path / "fuzz.keras", doc)
        try:
            keras_format.load_keras(bad, custom_objects=CUSTOM, compile=False)
        except FormatError:
            refused += 1
    return refused


def test_exporters_refuse_custom_layers_by_name(tmp_path):
    """(Shared layers export: tests/test_export_c.py, test_export_onnx.py.)"""
    model, _ = custom_seq(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(Scale\) has no C form"):
        model.export(tmp_path / "c.c", format="c", verbose=False)


# ------------------------------------------------------------------ with real Keras 3
@pytest.mark.skipif(not KERAS_PYTHON or not os.path.exists(KERAS_PYTHON),
                    reason="set FASTFF_KERAS_PYTHON to a Python with keras 3 (torch backend)")
def test_both_ways_through_keras(tmp_path):
    saved = _save_all(tmp_path)
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([KERAS_PYTHON, str(FIXTURES / "keras_graphs.py"), "run", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    for name, (model, xs) in saved.items():  # fastff wrote, Keras predicts
        got = _outputs(np.load(tmp_path / f"ff_{name}.out.npz"))
        for a, b in zip(got, _list(model.predict(_x(xs), verbose=0)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    for name in MODELS:  # Keras wrote, fastff predicts
        data = np.load(tmp_path / f"k_{name}.npz")
        model = load_model(tmp_path / f"k_{name}.keras", custom_objects=CUSTOM)
        for a, b in zip(_list(model.predict(_x(_inputs(data)), verbose=0)), _outputs(data),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        assert model.optimizer.iterations == 1, name
        fresh = load_model(tmp_path / f"k_{name}.keras", custom_objects=CUSTOM, compile=False)
        for p in fresh.weights:  # Keras's .weights.h5 into a fastff model
            p.assign(np.zeros(p.shape, p.value.dtype))
        fresh.load_weights(tmp_path / f"k_{name}.weights.h5")
        for a, b in zip(_list(fresh.predict(_x(_inputs(data)), verbose=0)), _outputs(data)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        assert _fuzz(tmp_path / f"k_{name}.keras", tmp_path, 3, rounds=12) > 1, name
