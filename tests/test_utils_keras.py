"""Keras's small utilities: pad_sequences, normalize, split_dataset, to_categorical, and the
Constant initializer with an array (pretrained vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastff
from fastff import initializers as I
from fastff import layers as L
from fastff.utils import normalize, pad_sequences, split_dataset, to_categorical

SEQS = [[1, 2, 3], [4, 5], [6], []]


def test_pad_sequences_keras_semantics():
    np.testing.assert_array_equal(pad_sequences(SEQS),
                                  [[1, 2, 3], [0, 4, 5], [0, 0, 6], [0, 0, 0]])
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=2, padding="post", truncating="post", value=-1),
        [[1, 2], [4, 5], [6, -1], [-1, -1]])
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=2), [[2, 3], [4, 5], [0, 6], [0, 0]])
    out = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=9.0)
    assert out.dtype == np.float32 and out.tolist() == [[9.0, 0.5, 1.5]]
    assert pad_sequences(SEQS).dtype == np.int32
    vec = pad_sequences([np.ones((2, 3)), np.ones((1, 3))])
    assert vec.shape == (2, 2, 3) and vec[1, 0].tolist() == [0, 0, 0]
    assert pad_sequences(SEQS, maxlen=0).shape == (4, 0)


def test_pad_sequences_strings_and_errors():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]
    assert pad_sequences([["a"], []], dtype="<U5", value="x").tolist() == [["a"], ["x"]]
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a", "b"]], value="x")
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="Padding type"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        pad_sequences(SEQS, truncating="both")
    with pytest.raises(ValueError, match="Shape of sample"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 2))])
    with pytest.raises(ValueError, match="iterable"):
        pad_sequences(5)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0], [2**-0.5, -(2**-0.5)]])
    np.testing.assert_allclose(normalize(x, order=1)[0], [3 / 7, 4 / 7])
    col = normalize(x, axis=0)
    np.testing.assert_allclose(np.linalg.norm(col, axis=0), [1, 1])
    assert normalize([1, 1]).tolist() == pytest.approx([2**-0.5, 2**-0.5])
    assert x[0, 0] == 3.0  # the input is not changed
    with pytest.raises(ValueError, match="axis"):
        normalize(x, axis=2)


def test_split_dataset_sizes_and_structure():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    left, right = split_dataset(x, left_size=0.8)
    np.testing.assert_array_equal(left, x[:8])
    np.testing.assert_array_equal(right, x[8:])
    (lx, ly), (rx, ry) = split_dataset((x, y), left_size=3, right_size=4)
    np.testing.assert_array_equal(ly, y[:3])
    np.testing.assert_array_equal(ry, y[6:])
    l2, r2 = split_dataset([x, y], right_size=0.3, shuffle=True, seed=4)
    assert isinstance(l2, list) and len(l2[1]) == 7 and len(r2[1]) == 3
    assert sorted(np.concatenate([l2[1], r2[1]]).tolist()) == list(range(10))
    np.testing.assert_array_equal(l2[0][:, 0] // 2, l2[1])  # rows stay together
    l3, _ = split_dataset([x, y], right_size=0.3, shuffle=True, seed=4)
    np.testing.assert_array_equal(l3[1], l2[1])
    d_left, d_right = split_dataset({"a": x, "b": y}, left_size=5)
    assert set(d_left) == {"a", "b"} and len(d_right["b"]) == 5


def test_split_dataset_errors():
    x = np.arange(10)
    with pytest.raises(ValueError, match="At least one"):
        split_dataset(x)
    with pytest.raises(ValueError, match="left_size"):
        split_dataset(x, left_size=10)
    with pytest.raises(ValueError, match="left_size"):
        split_dataset(x, left_size=1.5)
    with pytest.raises(ValueError, match="greater than 1"):
        split_dataset(x, left_size=0.6, right_size=0.6)
    with pytest.raises(ValueError, match="smaller than"):
        split_dataset(x, left_size=6, right_size=6)
    with pytest.raises(TypeError, match="left_size"):
        split_dataset(x, left_size="half")
    with pytest.raises(TypeError, match="dataset"):
        split_dataset(5, left_size=1)
    with pytest.raises(ValueError, match="same number"):
        split_dataset((x, x[:5]), left_size=2)
    with pytest.raises(ValueError, match="empty"):
        split_dataset(np.arange(3), left_size=0.1)


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    assert to_categorical([[1], [0]], num_classes=3).shape == (2, 3)


def test_constant_with_pretrained_vectors():
    vectors = np.arange(12.0).reshape(4, 3)
    init = I.Constant(vectors)
    model = fastff.Sequential([L.Input((2,)), L.Embedding(4, 3, embeddings_initializer=init)])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], vectors)
    cfg = I.serialize(init)
    json.dumps(cfg)  # JSON-ready: the array is stored as nested lists
    clone = I.deserialize(cfg)
    np.testing.assert_array_equal(clone((4, 3), "float64"), vectors)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        fastff.Sequential([L.Input((2,)), L.Embedding(5, 3, embeddings_initializer=init)])
    assert I.Constant(2.5)((2, 2), "float32").tolist() == [[2.5, 2.5], [2.5, 2.5]]
    assert I.Constant(2.5).get_config() == {"value": 2.5}
    np.testing.assert_array_equal(I.Constant([1.0, 2.0])((3, 2)), [[1, 2]] * 3)  # broadcasts
    with pytest.raises(TypeError, match="Constant"):
        I.Constant("pretrained")
