"""fastff.saving: the file container (hostile input fails cleanly, atomic writes) and model
round trips (bitwise predictions, resumed training equals uninterrupted training)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct

import numpy as np
import pytest

from fastff import saving
from fastff.saving import FormatError


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "weights": [("dense/kernel", rng.standard_normal((5, 3)).astype(np.float32)),
                    ("dense/bias", np.zeros(3, np.float32)),
                    ("scale", np.float64(2.5) * np.ones((2, 2)))],
        "optimizer": [("iterations", np.array(7, dtype=np.int64))],
    }


def _craft(path, header, data=b"", *, version=saving.FORMAT_VERSION, magic=saving.MAGIC):
    """A file with any header bytes and a *valid* checksum (as an attacker would make)."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    pre = struct.pack("<12sIQQ", magic, version, len(head), len(data))
    pad = b"\0" * (-(len(pre) + len(head)) % 64)
    body = pre + head + pad + data
    with open(path, "wb") as f:
        f.write(body + hashlib.sha256(body).digest())
    return path


def _entry(name="w", dtype="<f4", shape=(2,), offset=0, nbytes=8):
    return {"name": name, "dtype": dtype, "shape": list(shape), "offset": offset,
            "nbytes": nbytes}


# --------------------------------------------------------------------------- container


def test_container_round_trip(tmp_path):
    path = tmp_path / "a.fastff"
    arrays = _arrays()
    saving.write_file(path, {"kind": "test", "x": [1, 2]}, arrays)
    header, back = saving.read_file(path)
    assert header["kind"] == "test" and header["x"] == [1, 2]
    for section, items in arrays.items():
        assert [n for n, _ in back[section]] == [n for n, _ in items]
        for (_, a), (_, b) in zip(items, back[section]):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b) and b.flags.writeable and b.flags.c_contiguous
    with open(path, "rb") as f:
        assert f.read(12) == saving.MAGIC


def test_big_endian_and_fortran_inputs_are_stored_little_endian(tmp_path):
    a = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4))
    saving.write_file(tmp_path / "b.fastff", {}, {"weights": [("a", a)]})
    header, back = saving.read_file(tmp_path / "b.fastff")
    assert header["arrays"]["weights"][0]["dtype"] == "<f8"
    assert np.array_equal(back["weights"][0][1], a)


def test_object_arrays_are_refused_on_write(tmp_path):
    with pytest.raises(TypeError):
        saving.write_file(tmp_path / "o.fastff", {}, {"weights": [("o", np.array([None]))]})
    assert not (tmp_path / "o.fastff").exists()


@pytest.mark.parametrize("cut", [0, 5, 12, 31, 40, -33, -1])
def test_truncated_file(tmp_path, cut):
    path = tmp_path / "t.fastff"
    saving.write_file(path, {"kind": "test"}, _arrays())
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    with pytest.raises(FormatError, match="truncated|magic"):
        saving.read_file(path)


def test_every_flipped_bit_region_is_detected(tmp_path):
    path = tmp_path / "f.fastff"
    saving.write_file(path, {"kind": "test"}, _arrays())
    good = path.read_bytes()
    for pos in range(0, len(good), max(1, len(good) // 97)):
        bad = bytearray(good)
        bad[pos] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            saving.read_file(path)


def test_wrong_magic_and_version(tmp_path):
    path = tmp_path / "m.fastff"
    saving.write_file(path, {"kind": "test"}, _arrays())
    data = bytearray(path.read_bytes())
    data[1:7] = b"KERAS!"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="magic"):
        saving.read_file(path)
    _craft(path, {"arrays": {}}, version=2)
    with pytest.raises(FormatError, match="version 2.*newer"):
        saving.read_file(path)
    _craft(path, {"arrays": {}}, version=0)
    with pytest.raises(FormatError, match="version 0"):
        saving.read_file(path)


def test_foreign_formats_are_named(tmp_path):
    path = tmp_path / "x.fastff"
    np.save(tmp_path / "x.npy", np.zeros(3))
    path.write_bytes((tmp_path / "x.npy").read_bytes())
    with pytest.raises(FormatError, match="NumPy"):
        saving.read_file(path)
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="truncated"):
        saving.read_file(path)


class _Payload:
    """Unpickling this would create the marker file (it must never happen)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_renamed_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.fastff"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    # sanity: the payload really would run if unpickled
    pickle.loads(path.read_bytes()).close()
    assert marker.exists()
    marker.unlink()
    for load in (saving.read_file, saving.load_model):
        with pytest.raises(FormatError, match="pickle"):
            load(path)
    assert not marker.exists()
    # the same payload hidden in a well-formed file's data block is never unpickled
    payload = pickle.dumps(_Payload(str(marker)))
    _craft(path, {"kind": "model", "model": {"class_name": "Sequential", "config": {}},
                  "arrays": {"weights": [_entry("w", "|u1", (len(payload),), 0, len(payload))]}},
           payload)
    with pytest.raises(FormatError):
        saving.load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "header, match",
    [
        (b"\xff\xfe not utf-8", "JSON"),
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"arrays": {"weights": [], "x": NaN}}', "JSON"),
        (b"[" * 100000 + b"]" * 100000, "JSON|object"),
        ({"arrays": "nope"}, "arrays"),
        ({"arrays": {"code": []}}, "arrays"),
        ({"arrays": {"weights": [5]}}, "object"),
        ({"arrays": {"weights": [_entry(dtype="|O")]}}, "dtype"),
        ({"arrays": {"weights": [_entry(dtype="<U4")]}}, "dtype"),
        ({"arrays": {"weights": [_entry(shape=(-1,))]}}, "shape"),
        ({"arrays": {"weights": [_entry(shape=(1.5,))]}}, "shape"),
        ({"arrays": {"weights": [_entry(shape=[1] * 40)]}}, "shape"),
        ({"arrays": {"weights": [_entry(shape=(2**40, 2**40), nbytes=8)]}}, "does not match"),
        ({"arrays": {"weights": [_entry(shape=(2**40,), nbytes=2**42)]}}, "outside"),
        ({"arrays": {"weights": [_entry(offset=2**63)]}}, "outside"),
        ({"arrays": {"weights": [_entry(offset=-8)]}}, "non-negative"),
        ({"arrays": {"weights": [_entry(offset=True)]}}, "non-negative"),
        ({"arrays": {"weights": [_entry(name=3)]}}, "name"),
        ({"arrays": {"weights": [_entry(), _entry(offset=4)]}}, "overlap"),
    ],
)
def test_crafted_headers_fail_cleanly(tmp_path, header, match):
    path = _craft(tmp_path / "c.fastff", header, b"\0" * 64)
    with pytest.raises(FormatError, match=match):
        saving.read_file(path)


def test_absurd_header_length(tmp_path):
    path = tmp_path / "h.fastff"
    pre = struct.pack("<12sIQQ", saving.MAGIC, saving.FORMAT_VERSION, 2**62, 0)
    path.write_bytes(pre + b"\0" * 64)
    with pytest.raises(FormatError, match="header length"):
        saving.read_file(path)
    pre = struct.pack("<12sIQQ", saving.MAGIC, saving.FORMAT_VERSION, 10, 2**63)
    path.write_bytes(pre + b"\0" * 64)
    with pytest.raises(FormatError, match="truncated"):
        saving.read_file(path)


def test_crafted_model_class_is_not_resolved(tmp_path):
    path = _craft(tmp_path / "k.fastff",
                  {"kind": "model", "model": {"class_name": "os.system", "config": {}},
                   "arrays": {"weights": []}})
    with pytest.raises(FormatError, match="unknown model class 'os.system'"):
        saving.load_model(path)
    path = _craft(tmp_path / "w.fastff", {"kind": "weights", "arrays": {"weights": []}})
    with pytest.raises(FormatError, match="load_weights"):
        saving.load_model(path)


# --------------------------------------------------------------------------- atomic writes


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "keep.fastff"
    saving.write_file(path, {"kind": "test", "v": 1}, _arrays())
    before = path.read_bytes()

    def boom(fd):
        raise KeyboardInterrupt  # Ctrl-C in the middle of the save

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        saving.write_file(path, {"kind": "test", "v": 2}, _arrays())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.fastff"]  # no temp left


def test_write_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "mode.fastff"
    saving.write_file(path, {"v": 1}, {})
    os.chmod(path, 0o640)
    saving.write_file(path, {"v": 2}, {})
    assert saving.read_file(path)[0]["v"] == 2
    assert os.stat(path).st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- models

import fastff  # noqa: E402
from fastff import config, layers, optimizers  # noqa: E402


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 7)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64) + 2 * (x[:, 2] > 0.5)
    return x, y


def _model(seed=0, dtype=None, dropout=0.25, learning_rate=None):
    config.set_seed(seed)
    lr = learning_rate or optimizers.schedules.ExponentialDecay(0.02, 10, 0.9)
    model = fastff.Sequential([
        layers.Input((7,)),
        layers.Dense(16, activation="relu", kernel_regularizer="l2"),
        layers.Dropout(dropout),
        layers.Dense(4, activation="softmax"),
    ], dtype=dtype)
    model.compile(optimizers.Adam(learning_rate=lr), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(wa, wb))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_round_trip_is_bitwise(tmp_path, dtype):
    x, y = _data()
    model = _model(dtype=dtype)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.fastff"
    model.save(path)
    loaded = saving.load_model(path)
    assert type(loaded) is type(model) and loaded.name == model.name
    assert [type(la).__name__ for la in loaded.layers] == ["Dense", "Dropout", "Dense"]
    assert _same_weights(model, loaded)
    assert loaded.predict(x, verbose=0).dtype == np.dtype(dtype)
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert np.array_equal(model.predict(x[:1], verbose=0), loaded.predict(x[:1], verbose=0))
    assert loaded.get_compile_config() == model.get_compile_config()
    s1, s2 = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert s1.keys() == s2.keys() and all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 16
    assert fastff.models.load_model(path).count_params() == model.count_params()
    bare = saving.load_model(path, compile=False)
    assert bare.optimizer is None and _same_weights(bare, model)
    # saving the loaded model again gives the same arrays
    loaded.save(tmp_path / "again.fastff")
    h1, a1 = saving.read_file(path)
    h2, a2 = saving.read_file(tmp_path / "again.fastff")
    assert h1["model"] == h2["model"] and h1["compile"] == h2["compile"]
    for section in a1:
        assert all(np.array_equal(u, v) for (_, u), (_, v) in zip(a1[section], a2[section]))


def test_uncompiled_and_weights_only(tmp_path):
    config.set_seed(3)
    model = fastff.Sequential([layers.Input((7,)), layers.Dense(5), layers.Dense(2)])
    model.save(tmp_path / "u.fastff")
    loaded = saving.load_model(tmp_path / "u.fastff")
    assert loaded.optimizer is None and _same_weights(model, loaded)
    model.save_weights(tmp_path / "w.fastff")
    config.set_seed(4)
    other = fastff.Sequential([layers.Input((7,)), layers.Dense(5), layers.Dense(2)])
    assert not _same_weights(model, other)
    other.load_weights(tmp_path / "w.fastff")
    assert _same_weights(model, other)
    other.load_weights(tmp_path / "u.fastff")  # a full model file also holds weights
    with pytest.raises(FormatError, match="load_weights"):
        saving.load_model(tmp_path / "w.fastff")
    wrong = fastff.Sequential([layers.Input((7,)), layers.Dense(6), layers.Dense(2)])
    before = wrong.get_weights()
    with pytest.raises(FormatError, match="shape"):
        wrong.load_weights(tmp_path / "w.fastff")
    assert all(np.array_equal(a, b) for a, b in zip(before, wrong.get_weights()))
    unbuilt = fastff.Sequential([layers.Dense(5), layers.Dense(2)])
    unbuilt.load_weights(tmp_path / "w.fastff")  # built from the input shape in the file
    assert unbuilt.input_shape == (None, 7) and _same_weights(unbuilt, model)
    fewer = fastff.Sequential([layers.Input((7,)), layers.Dense(2)])
    with pytest.raises(FormatError, match="weight arrays"):
        fewer.load_weights(tmp_path / "w.fastff")


def test_functional_model_round_trip(tmp_path):
    config.set_seed(5)
    inp = fastff.Input(shape=(7,))
    out = layers.Dense(4, activation="softmax")(layers.Dense(6, activation="tanh")(inp))
    model = fastff.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _data(n=32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "f.fastff")
    loaded = saving.load_model(tmp_path / "f.fastff")
    assert type(loaded) is type(model) and _same_weights(model, loaded)
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_unbuilt_model_round_trip(tmp_path):
    model = fastff.Sequential([layers.Dense(3, name="a"), layers.Dense(2, name="b")], name="nb")
    model.save(tmp_path / "nb.fastff")
    loaded = saving.load_model(tmp_path / "nb.fastff")
    assert not loaded.built and [la.name for la in loaded.layers] == ["a", "b"]
    loaded.build((None, 4))
    assert loaded.count_params() == 4 * 3 + 3 + 3 * 2 + 2


def test_resumed_training_equals_uninterrupted(tmp_path):
    x, y = _data()
    full = _model(seed=7)
    full.fit(x, y, epochs=5, batch_size=16, validation_split=0.2, verbose=0)

    part = _model(seed=7)
    part.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    part.save(tmp_path / "k2.fastff")
    resumed = saving.load_model(tmp_path / "k2.fastff")
    resumed.fit(x, y, epochs=5, initial_epoch=2, batch_size=16, validation_split=0.2,
                verbose=0)
    assert _same_weights(full, resumed)
    assert resumed.optimizer.iterations == full.optimizer.iterations


def test_resume_from_checkpoint_after_ctrl_c(tmp_path):
    from fastff.callbacks import LambdaCallback, ModelCheckpoint

    x, y = _data()
    full = _model(seed=11)
    full.fit(x, y, epochs=4, batch_size=32, verbose=0)

    def ctrl_c(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    run = _model(seed=11)
    ckpt = str(tmp_path / "ck-{epoch}.fastff")
    with pytest.raises(KeyboardInterrupt):
        run.fit(x, y, epochs=4, batch_size=32, verbose=0,
                callbacks=[ModelCheckpoint(ckpt), LambdaCallback(on_epoch_begin=ctrl_c)])
    resumed = saving.load_model(tmp_path / "ck-2.fastff")
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=32, verbose=0)
    assert _same_weights(full, resumed)


class MyDense(layers.Dense):
    """A user layer, known to load_model only through custom_objects."""


def test_custom_objects(tmp_path):
    config.set_seed(0)
    model = fastff.Sequential([layers.Input((7,)), MyDense(3)])
    model.save(tmp_path / "c.fastff")
    with pytest.raises(FormatError, match="MyDense"):
        saving.load_model(tmp_path / "c.fastff")
    loaded = saving.load_model(tmp_path / "c.fastff", custom_objects={"MyDense": MyDense})
    assert type(loaded.layers[0]) is MyDense and _same_weights(model, loaded)


def _crafted_model_file(tmp_path, mutate):
    model = _model()
    x, y = _data(n=16)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "ok.fastff"
    model.save(path)
    header, arrays = saving.read_file(path)
    header.pop("arrays")
    mutate(header, arrays)
    out = tmp_path / "crafted.fastff"
    saving.write_file(out, header, arrays)  # a valid checksum: only the content is hostile
    return out


@pytest.mark.parametrize("mutate, match", [
    (lambda h, a: h["model"]["config"]["layers"][0].update(class_name="os.system"),
     "os.system"),
    (lambda h, a: h["model"]["config"]["layers"][0].update(class_name="__import__"),
     "__import__"),
    (lambda h, a: h["model"]["config"]["layers"][0]["config"].update(units=2**40), "invalid"),
    (lambda h, a: h["model"]["config"]["layers"][0]["config"].update(activation="eval"),
     "eval"),
    (lambda h, a: h["model"]["config"]["layers"][0]["config"].update(units=3), "shape"),
    (lambda h, a: h["model"]["config"].update(layers="nope"), "invalid"),
    (lambda h, a: h["model"].update(config=[1]), "config"),
    (lambda h, a: h["compile"]["optimizer"].update(class_name="subprocess.Popen"),
     "Popen"),
    (lambda h, a: h["compile"].update(loss={"class_name": "os.remove", "config": {}}),
     "os.remove"),
    (lambda h, a: a["weights"].pop(), "weight arrays"),
    (lambda h, a: a["optimizer"].pop(), "velocity"),
    (lambda h, a: a["optimizer"].__setitem__(1, ("momentum", np.zeros(3, np.float32))),
     "momentum"),
    (lambda h, a: h.update(kind="weights"), "load_weights"),
])
def test_crafted_model_contents_fail_cleanly(tmp_path, mutate, match):
    path = _crafted_model_file(tmp_path, mutate)
    with pytest.raises(FormatError, match=match):
        saving.load_model(path)


# --------------------------------------------------------------------------- fuzzing

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=16,
)
_fuzz_entry = st.fixed_dictionaries({
    "name": st.text(max_size=5) | st.integers(),
    "dtype": st.sampled_from(["<f4", "<f8", "|u1", "|b1", "|O", "<U3", "V8", "bogus", 3]),
    "shape": st.lists(st.integers(-2, 2**33), max_size=4) | _json,
    "offset": st.integers(-5, 300) | _json,
    "nbytes": st.integers(-5, 300),
})
_good_model = {"class_name": "Sequential",
               "config": {"input_shape": [3], "layers": [
                   {"class_name": "Dense", "config": {"units": 2, "name": "d"}}]}}
_header = st.fixed_dictionaries({
    "kind": st.sampled_from(["model", "weights", None, 5]),
    "model": _json | st.just(_good_model),
    "compile": _json,
    "training_state": _json,
    "arrays": st.fixed_dictionaries({"weights": st.lists(_fuzz_entry, max_size=3)})
    | st.fixed_dictionaries({"weights": st.lists(_fuzz_entry, max_size=2),
                             "optimizer": st.lists(_fuzz_entry, max_size=2)}) | _json,
})


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=_header, data=st.binary(max_size=300))
def test_fuzzed_files_fail_only_with_format_error(tmp_path_factory, header, data):
    path = _craft(tmp_path_factory.mktemp("fuzz") / "f.fastff", header, data)
    try:
        saving.load_model(path)
    except FormatError:
        pass
    try:
        saving.read_file(path)
    except FormatError:
        pass


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(0, 10**6), cut=st.booleans(), extra=st.binary(min_size=1, max_size=8))
def test_any_damage_is_detected(tmp_path_factory, pos, cut, extra):
    path = tmp_path_factory.mktemp("dmg") / "d.fastff"
    saving.write_file(path, {"kind": "test"}, _arrays())
    good = path.read_bytes()
    pos %= len(good)
    if cut:
        bad = good[:pos] + good[pos + len(extra):]  # bytes dropped
    else:
        bad = good[:pos] + bytes(b ^ (x | 1) for b, x in zip(good[pos:], extra)) \
            + good[pos + len(extra):]
        bad = bad[:len(good)]
    assert bad != good
    path.write_bytes(bad)
    with pytest.raises(FormatError):
        saving.read_file(path)


_dtypes = st.sampled_from(["<f2", "<f4", ">f4", "<f8", "|i1", "<i2", ">i4", "<i8", "|u1",
                           "<u2", "<u4", "<u8", "|b1"])


@settings(max_examples=40, deadline=None)
@given(specs=st.lists(st.tuples(_dtypes, st.lists(st.integers(0, 5), max_size=3)), max_size=5),
       seed=st.integers(0, 2**32 - 1))
def test_any_arrays_round_trip_bitwise(tmp_path_factory, specs, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for i, (dtype, shape) in enumerate(specs):
        raw = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dtype).itemsize,
                           dtype=np.uint8)
        a = raw.view(dtype).reshape(shape) if dtype != "|b1" else (raw % 2).astype(bool)
        arrays.append((f"a{i}", a.reshape(shape)))
    path = tmp_path_factory.mktemp("rt") / "r.fastff"
    saving.write_file(path, {"n": len(arrays)}, {"weights": arrays})
    _, back = saving.read_file(path)
    for (n1, a), (n2, b) in zip(arrays, back["weights"]):
        assert n1 == n2 and a.shape == b.shape and a.dtype.kind == b.dtype.kind
        assert a.tobytes() == b.astype(a.dtype).tobytes()  # bitwise, NaN payloads included
