"""TextVectorization against Keras 3's documented behaviour, in and out of models."""

import numpy as np
import pytest

import fastff as keras
from fastff import layers
from fastff.layers import deserialize, serialize

TEXTS = np.array(["The cat sat.", "the DOG, sat!", "a cat and a dog", "Über café"])


def test_keras_docs_example_with_a_given_vocabulary():
    layer = layers.TextVectorization(max_tokens=5000, output_mode="int",
                                     output_sequence_length=4,
                                     vocabulary=["earth", "wind", "and", "fire"])
    np.testing.assert_array_equal(layer(["earth wind and fire", "fire and earth michigan"]),
                                  [[2, 3, 4, 5], [5, 4, 2, 1]])
    assert layer.get_vocabulary()[:2] == ["", "[UNK]"]
    assert layer.vocabulary_size() == 6


def test_adapt_standardizes_ranks_and_pads():
    tv = layers.TextVectorization()
    tv.adapt(TEXTS)
    # ASCII lowercased, punctuation stripped, non-ASCII kept; count 2 for five tokens (ties
    # in descending token order), then the singletons
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat", "a", "Über",
                                   "café", "and"]
    out = tv(TEXTS)
    assert out.dtype == np.int64 and out.shape == (4, 5)  # the longest text
    np.testing.assert_array_equal(out[2], [6, 5, 9, 6, 4])
    np.testing.assert_array_equal(out[3], [7, 8, 0, 0, 0])
    short = layers.TextVectorization(max_tokens=4, output_sequence_length=2,
                                     vocabulary=None)
    short.adapt(TEXTS)
    assert short.get_vocabulary() == ["", "[UNK]", "the", "sat"]
    np.testing.assert_array_equal(short(["a cat sat", "the"]), [[1, 1], [2, 0]])
    np.testing.assert_array_equal(tv("the cat"), [2, 5])  # one string in, one row out


def test_ngrams_split_and_callables():
    tv = layers.TextVectorization(ngrams=2, standardize=None)
    assert tv.tokenize(["a b c"]) == [["a", "b", "c", "a b", "b c"]]
    chars = layers.TextVectorization(split="character", standardize="lower")
    assert chars.tokenize(["Ab!"]) == [["a", "b", "!"]]
    custom = layers.TextVectorization(standardize=lambda a: np.char.upper(a),
                                      split=lambda s: s.split("-"))
    assert custom.tokenize(["x-y", "z"]) == [["X", "Y"], ["Z"]]
    whole = layers.TextVectorization(split=None, vocabulary=["a b"])
    np.testing.assert_array_equal(whole(["a b", "c"]), [[2], [1]])


def test_multi_hot_and_count_rows():
    mh = layers.TextVectorization(output_mode="multi_hot", vocabulary=["cat", "sat", "dog"])
    cnt = layers.TextVectorization(output_mode="count", vocabulary=["cat", "sat", "dog"])
    x = ["cat cat zebra", "dog sat", ""]
    np.testing.assert_array_equal(mh(x), [[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(cnt(x), [[1, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
    padded = layers.TextVectorization(output_mode="multi_hot", max_tokens=8,
                                      pad_to_max_tokens=True, vocabulary=["cat"])
    assert padded(["cat"]).shape == (1, 8)


@pytest.mark.parametrize("kwargs, match", [
    ({"output_mode": "tf_idf"}, "tf_idf is not supported"),
    ({"output_mode": "one_hot"}, "output_mode must be one of"),
    ({"output_mode": "count", "output_sequence_length": 3}, "output_sequence_length"),
    ({"output_sequence_length": 0}, "output_sequence_length must be"),
    ({"standardize": "upper"}, "standardize must be"),
    ({"split": "comma"}, "split must be"),
    ({"ngrams": 0}, "ngrams must be"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.TextVectorization(**kwargs)


def test_inputs_must_be_strings():
    tv = layers.TextVectorization(vocabulary=["a"])
    with pytest.raises(TypeError, match="expected strings"):
        tv([1, 2])
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        tv(np.array([["a", "b"]]))


def test_in_a_functional_model_fit_predict_save(tmp_path):
    tv = layers.TextVectorization(output_sequence_length=4)
    tv.adapt(TEXTS)
    inp = keras.Input(shape=(1,), dtype="string")
    h = layers.Embedding(tv.vocabulary_size(), 3, mask_zero=True)(tv(inp))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(TEXTS, np.array([0, 1, 0, 1]), epochs=2, verbose=0)
    flat = model.predict(TEXTS, verbose=0)  # (n,) strings for a (None, 1) input: Keras's rule
    np.testing.assert_array_equal(flat, model.predict(TEXTS.reshape(-1, 1), verbose=0))
    model.save(tmp_path / "tv.fastff")
    again = keras.models.load_model(tmp_path / "tv.fastff")
    np.testing.assert_array_equal(again.predict(TEXTS, verbose=0), flat)
    clone = deserialize(serialize(tv))
    assert clone.get_vocabulary() == tv.get_vocabulary()


def test_in_a_sequential_model():
    tv = layers.TextVectorization(output_mode="multi_hot", vocabulary=["cat", "dog", "sat"])
    model = keras.Sequential([keras.Input(shape=(1,), dtype="string"), tv,
                              layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(TEXTS, np.array([1.0, 0.0, 1.0, 0.0]), epochs=1, verbose=0)
    assert model.predict(TEXTS, verbose=0).shape == (4, 1)


def test_one_axis_short_inputs_gain_it_as_keras():
    x = np.arange(6.0)
    seq = keras.Sequential([keras.Input(shape=(1,)), layers.Dense(1)])
    seq.compile("sgd", "mse")
    seq.fit(x, x, verbose=0)
    np.testing.assert_array_equal(seq.predict(x, verbose=0),
                                  seq.predict(x.reshape(-1, 1), verbose=0))
    inp = keras.Input(shape=(1,))
    fn = keras.Model(inp, layers.Dense(1)(inp))
    fn.compile("sgd", "mse")
    fn.fit(x, x, verbose=0)
    assert fn.predict(x, verbose=0).shape == (6, 1)
