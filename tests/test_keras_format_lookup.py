"""IntegerLookup, StringLookup and TextVectorization in Keras 3 ``.keras`` files: their
vocabularies as Keras's assets (``assets/<layer path>/vocabulary.txt``, special tokens
first; TextVectorization's second copy under ``_lookup_layer``), both ways. Keras's own
lookup layers need TensorFlow, so the file Keras would write is built by hand from Keras's
source (``tests/fixtures/keras/keras_lookup.py``, committed as ``k_lookup.keras``) rather
than by Keras on the torch backend."""

from __future__ import annotations

import io
import json
import pathlib
import random
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


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _rewrite(src, dst, change):
    members = _members(src)
    change(members)
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return dst


def _models():
    """(model, inputs) of every lookup kind and mode fastff maps."""
    ints = np.array([[3, 9, 7], [0, 5, 5]])
    words = np.array([["b", "zz"], ["", "a"]], dtype=object)
    out = {}
    lk = L.IntegerLookup(mask_token=0, name="ids")
    lk.adapt(np.array([3, 5, 5, 7, 7, 7, 0]))
    inv = L.IntegerLookup(vocabulary=[3, 5, 7], invert=True, name="back")
    out["integer"] = (fastff.Sequential([L.Input((3,), dtype="int64"), lk]), ints)
    for mode in ("one_hot", "multi_hot", "count"):
        enc = L.IntegerLookup(num_oov_indices=2, output_mode=mode,
                              vocabulary=[7, 5, 3])
        shape = (1,) if mode == "one_hot" else (3,)
        out[f"integer_{mode}"] = (fastff.Sequential([L.Input(shape, dtype="int64"), enc,
                                                     L.Dense(2)]), ints[:, :shape[0]])
    out["invert"] = (fastff.Sequential([L.Input((3,), dtype="int64"), inv]),
                     np.array([[0, 1, 3], [2, 2, 1]]))
    s = L.StringLookup(mask_token="", name="words")
    s.adapt(np.array(["a", "b", "b", "c"], dtype=object))
    out["string"] = (fastff.Sequential([L.Input((2,), dtype="string"), s]), words)
    tv = L.TextVectorization(output_sequence_length=5, ngrams=2, name="text")
    tv.adapt(["the cat sat on the mat", "The dog!", "a cat"])
    mh = L.TextVectorization(output_mode="multi_hot", max_tokens=6, pad_to_max_tokens=True)
    mh.adapt(["x y z", "x x"])
    t_in, w_in = L.Input((1,), dtype="string", name="t"), L.Input((2,), dtype="string", name="w")
    inner = fastff.Sequential([L.Input((2,), dtype="string"),
                               L.StringLookup(vocabulary=["p", "q"], output_mode="count"),
                               L.Dense(2)], name="inner")
    merged = L.Concatenate()([L.Flatten()(L.Embedding(40, 2)(tv(t_in))),
                              L.Dense(2)(mh(t_in)), inner(w_in)])
    out["functional"] = (fastff.Model([t_in, w_in], L.Dense(1)(merged)),
                         [np.array([["the cat"], ["zebra dog, a"]], dtype=object),
                          np.array([["p", "q"], ["r", "q"]], dtype=object)])
    return out


def test_round_trip_every_mode(tmp_path):
    for name, (model, x) in _models().items():
        model.save(tmp_path / f"{name}.keras")
        back = load_model(tmp_path / f"{name}.keras")
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0),
                                      err_msg=name)
        for a, b in zip(back.layers, model.layers):
            if hasattr(b, "get_vocabulary"):
                assert a.get_vocabulary() == b.get_vocabulary(), name
                assert type(a) is type(b) and a.output_mode == b.output_mode, name


def test_the_assets_layout_keras_writes(tmp_path):
    model, _ = _models()["functional"]
    model.save(tmp_path / "f.keras")
    members = _members(tmp_path / "f.keras")
    assets = sorted(n for n in members if n.startswith("assets/"))
    assert assets == ["assets/layers/sequential/layers/string_lookup/vocabulary.txt",
                      "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt",
                      "assets/layers/text_vectorization/vocabulary.txt",
                      "assets/layers/text_vectorization_1/_lookup_layer/vocabulary.txt",
                      "assets/layers/text_vectorization_1/vocabulary.txt"]
    tv = model.get_layer("text")
    text = members["assets/layers/text_vectorization/vocabulary.txt"].decode()
    assert text == "\n".join(tv.get_vocabulary()) and text.startswith("\n[UNK]\nthe\n")
    assert members["assets/layers/sequential/layers/string_lookup/vocabulary.txt"] == \
        b"[UNK]\np\nq"
    cfg = json.loads(members["config.json"])["config"]
    spec = next(la for la in cfg["layers"] if la["name"] == "text")
    assert spec["config"]["vocabulary"] is None and spec["config"]["ngrams"] == 2
    assert spec["config"]["vocabulary_size"] == tv.vocabulary_size()
    assert cfg["layers"][0]["config"]["dtype"] == "string"
    import h5py

    with h5py.File(io.BytesIO(members["model.weights.h5"])) as h5:
        assert "layers/text_vectorization/_lookup_layer/vars" in h5
        assert len(h5["layers/text_vectorization/vars"]) == 0
    seq = _members_of(tmp_path, "integer")
    assert seq["assets/layers/integer_lookup/vocabulary.txt"] == b"0\n-1\n7\n5\n3"


def _members_of(tmp_path, name):
    model, _ = _models()[name]
    model.save(tmp_path / f"{name}.keras")
    return _members(tmp_path / f"{name}.keras")


def test_the_file_keras_would_write():
    """Built by hand from Keras's source (keras_lookup.py): assets with the special tokens
    first, a vocabulary in the config (no asset), TextVectorization's two copies."""
    m = load_model(FIXTURES / "k_lookup.keras")
    ids, words, text = m.predict([np.array([[42, 0, 5], [13, 7, 42]]),
                                  np.array([["a", "zz"], ["b", "b"]], dtype=object),
                                  np.array([["The cat, ran"], ["cat"]], dtype=object)],
                                 verbose=0)
    np.testing.assert_array_equal(ids, [[2, 0, 1], [4, 3, 2]])  # mask 0, OOV 1
    np.testing.assert_array_equal(words, [[2, 0], [1, 1]])  # config ["b", "a"], OOV 0
    np.testing.assert_array_equal(text, [[2, 3, 1, 0], [3, 0, 0, 0]])
    assert m.get_layer("int_lookup").get_vocabulary(include_special_tokens=False) == \
        [42, 7, 13]


def test_text_vectorization_copy_under_lookup_layer_wins(tmp_path):
    """Keras loads the layer's own copy, then its _lookup_layer's: the second wins."""
    def change(members):
        members["assets/layers/text_vectorization/_lookup_layer/vocabulary.txt"] = \
            b"\n[UNK]\ncat\nthe"

    bad = _rewrite(FIXTURES / "k_lookup.keras", tmp_path / "w.keras", change)
    text = load_model(bad).predict([np.array([[42, 0, 5]]), np.array([["a", "b"]], dtype=object),
                                    np.array([["the cat"]], dtype=object)], verbose=0)[2]
    np.testing.assert_array_equal(text, [[3, 2, 0, 0]])


@pytest.mark.parametrize("name,data,match", [
    ("integer_lookup", None, "no vocabulary"),
    ("integer_lookup", b"0\n-1\nforty\n7", "not an integer"),
    ("integer_lookup", b"0\n-1\n99999999999999999999", "int64|integer"),
    ("integer_lookup", b"0\n-1\n7\n7\n13", "repeated"),
    ("integer_lookup", b"0\n-1\n42\n7", "vocabulary_size"),
    ("integer_lookup", b"0\n-1\n" + b"1" * 5000, "not an integer"),
    ("text_vectorization/_lookup_layer", b"\xff\xfe\n", "UTF-8"),
    ("text_vectorization/_lookup_layer", b"\n[UNK]\n" + b"x" * 70000 + b"\ncat",
     "longer than"),
])
def test_malformed_assets_are_refused(tmp_path, name, data, match):
    def change(members):
        key = f"assets/layers/{name}/vocabulary.txt"
        if data is None:
            del members[key]
        else:
            members[key] = data

    bad = _rewrite(FIXTURES / "k_lookup.keras", tmp_path / "bad.keras", change)
    with pytest.raises(FormatError, match=match):
        load_model(bad)


def test_bad_lookup_configs_are_refused(tmp_path):
    def edit(**keys):
        def change(members):
            doc = json.loads(members["config.json"])
            spec = next(la for la in doc["config"]["layers"] if la["name"] == keys["layer"])
            spec["config"].update({k: v for k, v in keys.items() if k != "layer"})
            members["config.json"] = json.dumps(doc).encode()
        return _rewrite(FIXTURES / "k_lookup.keras", tmp_path / "bad.keras", change)

    for keys, match in [
        (dict(layer="int_lookup", output_mode="tf_idf"), "tf_idf"),
        (dict(layer="int_lookup", oov_method="farmhash", num_oov_indices=2), "oov_method"),
        (dict(layer="str_lookup", vocabulary=["a", 3]), "vocabulary holds 3"),
        (dict(layer="str_lookup", encoding="no-such-codec"), "codec"),
        (dict(layer="tv", standardize={"class_name": "function", "config": "f"}),
         "function|code"),
        (dict(layer="tv", split="regex"), "split"),
        (dict(layer="tv", ragged=True), "ragged"),
        (dict(layer="int_lookup", mask_token="x"), "mask_token"),
    ]:
        with pytest.raises(FormatError, match=match):
            load_model(edit(**keys))


def test_huge_assets_refused_before_reading(tmp_path):
    from fastff.keras_format import lookups

    path = tmp_path / "huge.keras"
    members = _members(FIXTURES / "k_lookup.keras")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
        z.writestr("assets/layers/extra/big.bin", b"\0" * (lookups.MAX_ASSET + 1))
    with pytest.raises(FormatError, match="declares|ratio|zip bomb"):
        load_model(path)


def test_mutated_assets_load_or_raise_format_error(tmp_path):
    rng = random.Random(5)
    base = _members(FIXTURES / "k_lookup.keras")
    keys = [n for n in base if n.startswith("assets/")]
    refused = 0
    for _ in range(40):
        def change(members):
            key = rng.choice(keys)
            data = bytearray(members[key])
            op = rng.randrange(5)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                data += rng.choice([b"\n", b"\r\n", b"\x85", b"\n\n\n", b"-0", b"[UNK]"])
            elif op == 2:
                data = data[:rng.randrange(len(data) + 1)]
            elif op == 3:
                data = bytearray(rng.randbytes(rng.randrange(64)))
            else:
                members[key.replace("vocabulary", rng.choice(["vocab", "VOCABULARY"]))] = \
                    members.pop(key)
                return
            members[key] = bytes(data)

        bad = _rewrite(FIXTURES / "k_lookup.keras", tmp_path / "fuzz.keras", change)
        try:
            keras_format.load_keras(bad, compile=False)
        except FormatError:
            refused += 1
    assert refused > 10


def test_unsavable_lookups_are_refused_by_name(tmp_path):
    bad = L.StringLookup(vocabulary=["a\nb", "c"], name="nl")
    model = fastff.Sequential([L.Input((1,), dtype="string"), bad])
    with pytest.raises(ValueError, match="nl.*line break"):
        model.save(tmp_path / "nl.keras")
    tv = L.TextVectorization(split=lambda s: s.split(","), name="tv_call")
    model = fastff.Sequential([L.Input((1,), dtype="string"), tv])
    with pytest.raises(ValueError, match="tv_call.*callable split"):
        model.save(tmp_path / "c.keras")
    assert not (tmp_path / "nl.keras").exists() and not (tmp_path / "c.keras").exists()
