"""pad_sequences (Keras semantics), token windows and tagger features."""

from __future__ import annotations

import numpy as np
import pytest

from fastff.data import pad_sequences, suffix, windows, word_shape

SEQS = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]


def test_pad_defaults_post_to_longest():
    out = pad_sequences(SEQS)
    assert out.dtype == np.int32 and out.shape == (4, 5)
    assert out.tolist() == [[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [0] * 5, [5, 6, 7, 8, 9]]


@pytest.mark.parametrize(
    ("padding", "truncating", "expected"),
    [
        ("post", "post", [[1, 2, 3], [4, 0, 0], [0, 0, 0], [5, 6, 7]]),
        ("pre", "pre", [[1, 2, 3], [0, 0, 4], [0, 0, 0], [7, 8, 9]]),
        ("pre", "post", [[1, 2, 3], [0, 0, 4], [0, 0, 0], [5, 6, 7]]),
        ("post", "pre", [[1, 2, 3], [4, 0, 0], [0, 0, 0], [7, 8, 9]]),
    ],
)
def test_pad_and_truncate_like_keras(padding, truncating, expected):
    out = pad_sequences(SEQS, maxlen=3, padding=padding, truncating=truncating)
    assert out.tolist() == expected


def test_pad_value_dtype_and_edge_cases():
    out = pad_sequences([np.array([1.5, 2.5])], maxlen=3, value=-1, dtype="float64")
    assert out.dtype == np.float64 and out.tolist() == [[1.5, 2.5, -1.0]]
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences(SEQS, truncating="both")
    with pytest.raises(ValueError, match="1-D"):
        pad_sequences([[[1, 2]]])


def test_windows_pad_sentence_boundaries():
    out = windows([[5, 6, 7], [8]], window=2, pad_id=0)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 0, 5, 6, 7], [0, 5, 6, 7, 0], [5, 6, 7, 0, 0], [0, 0, 8, 0, 0]]
    out = windows([[5, 6], [], [8, 9]], window=1, pad_id=2, end_pad_id=3)
    assert out.tolist() == [[2, 5, 6], [5, 6, 3], [2, 8, 9], [8, 9, 3]]
    assert windows([[5, 6]], window=0).tolist() == [[5], [6]]
    assert windows([], window=2).shape == (0, 5)
    with pytest.raises(ValueError):
        windows([[1]], window=-1)


def test_windows_match_a_plain_loop():
    rng = np.random.default_rng(1)
    sentences = [rng.integers(2, 100, size=n) for n in rng.integers(0, 12, size=50)]
    w = 3
    expected = []
    for s in sentences:
        padded = [0] * w + list(s) + [0] * w
        expected += [padded[i : i + 2 * w + 1] for i in range(len(s))]
    np.testing.assert_array_equal(windows(sentences, window=w), np.array(expected))


@pytest.mark.parametrize(
    ("word", "shape"),
    [("Hello", "Xx"), ("HELLO", "X"), ("hello", "x"), ("U.S.", "X.X."), ("1990s", "dx"),
     ("don't", "x'x"), ("3.14", "d.d"), ("McDonald", "XxXx"), ("", ""), ("--", "-"),
     ("Zürich", "Xx")],
)
def test_word_shape(word, shape):
    assert word_shape(word) == shape


def test_suffix():
    assert suffix("Running", 3) == "ing"
    assert suffix("Running", 3, lowercase=False) == "ing"
    assert suffix("RAN", 2) == "an" and suffix("RAN", 2, lowercase=False) == "AN"
    assert suffix("a", 3) == "a"
    with pytest.raises(ValueError):
        suffix("word", 0)
