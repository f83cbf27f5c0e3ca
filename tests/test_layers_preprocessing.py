"""CategoryEncoding, Discretization, IntegerLookup, StringLookup (Keras 3 semantics)."""

import numpy as np
import pytest

import fastff as keras
from fastff.data.vocab import Vocabulary
from fastff.layers import deserialize, serialize

L = keras.layers


def roundtrip(layer):
    clone = deserialize(serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    return clone


def test_category_encoding_modes():
    one = L.CategoryEncoding(num_tokens=4, output_mode="one_hot")
    np.testing.assert_array_equal(one(np.array([3, 2, 0, 1])), np.eye(4)[[3, 2, 0, 1]])
    assert one(np.array([[1, 2], [0, 3]])).shape == (2, 2, 4)
    ids = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    np.testing.assert_array_equal(L.CategoryEncoding(4)(ids),
                                  [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(L.CategoryEncoding(4, "count")(ids),
                                  [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        L.CategoryEncoding(4)(np.array([[4]]))
    with pytest.raises(ValueError, match="output_mode"):
        L.CategoryEncoding(4, "tf_idf")
    roundtrip(one)


def test_category_encoding_first_layer_of_sequential():
    x = np.random.default_rng(0).integers(0, 5, (32, 3))
    y = (x == 2).any(axis=1).astype(np.int64)
    model = keras.Sequential([keras.Input((3,), dtype="int64"),
                              L.CategoryEncoding(5, "multi_hot"),
                              L.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    assert model.predict(x, verbose=0).shape == (32, 2)


def test_discretization():
    d = L.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    np.testing.assert_array_equal(d(x), [[0, 2, 3, 1], [1, 3, 2, 1]])  # Keras's example
    oh = L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot")
    np.testing.assert_array_equal(oh(np.array([-1.0, 0.5, 2.0])), np.eye(3))
    a = L.Discretization(num_bins=4)
    a.adapt(np.arange(100.0), batch_size=16)
    assert a.bin_boundaries == [24.75, 49.5, 74.25]
    assert roundtrip(a).bin_boundaries == a.bin_boundaries
    with pytest.raises(ValueError, match="boundaries"):
        L.Discretization(num_bins=3)(x)
    with pytest.raises(ValueError, match="num_bins"):
        L.Discretization(bin_boundaries=[0.0], num_bins=3)


def test_string_lookup_layout_oov_mask_invert(tmp_path):
    s = L.StringLookup(vocabulary=["a", "b", "c"])
    assert s.get_vocabulary() == ["[UNK]", "a", "b", "c"] and s.vocabulary_size() == 4
    np.testing.assert_array_equal(s(np.array([["a", "c", "d"], ["d", "z", "b"]])),
                                  [[1, 3, 0], [0, 0, 2]])  # Keras's example
    m = L.StringLookup(vocabulary=["a", "b"], mask_token="", num_oov_indices=2)
    assert m.get_vocabulary() == ["", "[UNK]", "[UNK]", "a", "b"]
    ids = m(["a", "", "q", b"b"])
    assert ids[0] == 3 and ids[1] == 0 and ids[2] in (1, 2) and ids[3] == 4
    inv = L.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inv(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "[UNK]"],
                                                             ["[UNK]", "[UNK]", "b"]]
    mh = L.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot", mask_token="")
    np.testing.assert_array_equal(mh([["a", ""], ["b", "q"]]), [[0, 1, 0], [1, 0, 1]])
    cnt = L.StringLookup(vocabulary=["a", "b"], output_mode="count")
    np.testing.assert_array_equal(cnt([["a", "a"], ["b", "q"]]), [[0, 2, 0], [1, 0, 1]])
    path = tmp_path / "vocab.txt"
    path.write_text("x\ny\n", encoding="utf-8")
    assert L.StringLookup(vocabulary=str(path)).get_vocabulary() == ["[UNK]", "x", "y"]
    v = Vocabulary([["b", "a", "b"]])
    assert L.StringLookup(vocabulary=v).get_vocabulary() == ["[UNK]", "b", "a"]
    with pytest.raises(ValueError, match="repeated"):
        L.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="oov_token"):
        L.StringLookup(vocabulary=["[UNK]"])
    with pytest.raises(TypeError, match="string"):
        s(np.array([[1]]))
    assert roundtrip(s).get_vocabulary() == s.get_vocabulary()


def test_lookup_adapt_and_integer_lookup():
    s = L.StringLookup()
    s.adapt(np.array([["c", "a", "a"], ["b", "a", "c"]]))
    assert s.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    s2 = L.StringLookup(max_tokens=3)
    s2.adapt([np.array(["c", "a", "a"]), np.array(["b", "a", "c"])])
    assert s2.get_vocabulary() == ["[UNK]", "a", "c"]
    i = L.IntegerLookup()
    i.adapt(np.array([[12, 1138], [1729, 1138], [42, 1138], [1729, 42]]))
    assert i.get_vocabulary() == [-1, 1138, 1729, 42, 12]
    np.testing.assert_array_equal(i(np.array([[12, 1138, 7]])), [[4, 1, 0]])
    inv = L.IntegerLookup(vocabulary=[12, 36], invert=True)
    np.testing.assert_array_equal(inv(np.array([0, 1, 2])), [-1, 12, 36])
    oh = L.IntegerLookup(vocabulary=[12, 36], output_mode="one_hot")
    np.testing.assert_array_equal(oh(np.array([36, 5])), [[0, 0, 1], [1, 0, 0]])
    assert roundtrip(i).get_vocabulary() == i.get_vocabulary()
    multi = L.IntegerLookup(vocabulary=[5, 3], num_oov_indices=2, mask_token=0)
    np.testing.assert_array_equal(multi(np.array([[3, 0, 7, 8, 5]])), [[4, 0, 2, 1, 3]])
    mh = L.IntegerLookup(vocabulary=[5, 3], mask_token=0, output_mode="multi_hot")
    np.testing.assert_array_equal(mh(np.array([[3, 0], [9, 9]])), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        L.IntegerLookup(vocabulary=[1], num_oov_indices=0)(np.array([2]))


def test_integer_lookup_feeds_embedding_in_sequential(tmp_path):
    rng = np.random.default_rng(1)
    codes = rng.choice([100, 205, 999, 31], size=(40, 3))
    y = (codes[:, 0] == 999).astype(np.int64)
    model = keras.Sequential([keras.Input((3,), dtype="int64"),
                              L.IntegerLookup(vocabulary=[100, 205, 999]),
                              L.Embedding(4, 2), L.Flatten(),
                              L.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(codes, y, epochs=2, verbose=0)
    model.save(tmp_path / "lookup.fastff")
    loaded = keras.models.load_model(tmp_path / "lookup.fastff")
    assert loaded.layers[0].get_vocabulary() == [-1, 100, 205, 999]
    np.testing.assert_allclose(loaded.predict(codes, verbose=0),
                               model.predict(codes, verbose=0))


def test_string_arrays_through_fit_predict_and_generators():
    """A first StringLookup takes string arrays in fit/evaluate/predict (and from a
    generator); it trains as the same model fed the looked-up ids."""
    L = keras.layers
    words = np.array([["the", "cat", ""], ["a", "dog", "sat"], ["the", "", ""],
                      ["zebra", "cat", "sat"]])
    y = np.array([0, 1, 0, 1])
    vocab = ["the", "a", "cat", "dog", "sat"]

    def head():
        return [L.Embedding(7, 3, mask_zero=True), L.GlobalAveragePooling1D(),
                L.Dense(2, activation="softmax")]

    keras.utils.set_random_seed(0)
    lookup = L.StringLookup(vocabulary=vocab, mask_token="")
    m = keras.Sequential([lookup, *head()])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ids = lookup(words)
    assert ids[0].tolist() == [2, 4, 0] and ids[3, 0] == 1  # mask 0, OOV 1, then the vocab
    keras.utils.set_random_seed(0)
    ref = keras.Sequential([keras.Input((3,), dtype="int64"), *head()])
    ref.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.build((3,))
    ref.set_weights(m.get_weights())
    m.fit(words, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    ref.fit(ids, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(m.predict(words, verbose=0), ref.predict(ids, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(m.evaluate(list(map(list, words)), y, verbose=0),
                               ref.evaluate(ids, y, verbose=0), rtol=1e-6)
    m.fit(((words[i:i + 2], y[i:i + 2]) for i in (0, 2)), verbose=0)
    bad = words.astype(object)
    bad[1, 2] = 3
    with pytest.raises(TypeError, match=r"x: expected strings, got int 3 at index \(1, 2\)"):
        m.predict(bad, verbose=0)
