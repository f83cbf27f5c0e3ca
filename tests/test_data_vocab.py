"""Vocabulary: reserved ids, ordering, limits, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastff.data import PAD_ID, UNK_ID, Vocabulary

SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat"], ["the"]]


def test_order_by_frequency_then_token():
    vocab = Vocabulary(SENTENCES)
    assert vocab.tokens == ["<pad>", "<unk>", "the", "cat", "sat", "a", "dog"]
    assert (vocab.pad_id, vocab.unk_id) == (PAD_ID, UNK_ID) == (0, 1)
    assert len(vocab) == 7 and "cat" in vocab and "cow" not in vocab
    assert vocab.counts["the"] == 3


def test_order_is_independent_of_input_order():
    assert Vocabulary(SENTENCES[::-1]).tokens == Vocabulary(SENTENCES).tokens


def test_encode_decode():
    vocab = Vocabulary(SENTENCES)
    ids = vocab.encode(["the", "cow", "sat"])
    assert ids.dtype == np.int32 and ids.tolist() == [2, UNK_ID, 4]
    assert vocab.decode(ids) == ["the", "<unk>", "sat"]
    assert vocab.decode([0]) == ["<pad>"]
    assert vocab.encode([]).shape == (0,)
    assert [a.tolist() for a in vocab.encode_all([["a"], ["dog", "cat"]])] == [[5], [6, 3]]
    with pytest.raises(IndexError, match="id 7"):
        vocab.decode([7])


def test_min_count_and_max_size():
    assert Vocabulary(SENTENCES, min_count=2).tokens[2:] == ["the", "cat", "sat"]
    assert Vocabulary(SENTENCES, max_size=4).tokens == ["<pad>", "<unk>", "the", "cat"]
    assert len(Vocabulary(SENTENCES, max_size=2)) == 2
    with pytest.raises(ValueError):
        Vocabulary(SENTENCES, max_size=1)
    with pytest.raises(ValueError):
        Vocabulary(SENTENCES, min_count=0)


def test_flat_token_iterable_and_reserved_tokens_in_data():
    vocab = Vocabulary(["b", "a", "b", "<pad>", "<unk>"])
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a"]
    assert vocab.lookup("<pad>") == PAD_ID


def test_config_round_trip_through_json():
    vocab = Vocabulary(SENTENCES, min_count=1, max_size=6, pad_token="[PAD]", unk_token="[UNK]")
    config = json.loads(json.dumps(vocab.get_config()))
    again = Vocabulary.from_config(config)
    assert again == vocab and again.tokens == vocab.tokens
    assert again.counts == vocab.counts and again.unk_token == "[UNK]"
    assert again.encode(["dog", "zzz"]).tolist() == vocab.encode(["dog", "zzz"]).tolist()
    assert Vocabulary(SENTENCES) != vocab


@pytest.mark.parametrize(("change", "message"), [
    ({"tokens": "dog"}, "tokens must be a list of strings"),
    ({"tokens": ["dog", 3]}, "tokens must be a list of strings"),
    ({"tokens": ["dog", "dog"]}, "not unique"),
    ({"counts": [1]}, "counts must be a list of 2 integers >= 0"),
    ({"counts": [1, -2]}, "counts must be a list of 2"),
    ({"pad_token": ["<pad>"]}, "pad_token must be a string"),
    ({"min_count": 0}, "min_count must be an integer >= 1"),
    ({"max_size": 3}, "2 tokens exceed max_size 3"),
    ({"max_size": True}, "max_size must be None or an integer >= 2"),
    ({"extra": 1}, r"unknown fields \['extra'\]"),
])
def test_from_config_checks_every_field(change, message):
    config = {"tokens": ["dog", "cat"], "counts": [2, 1], "pad_token": "<pad>",
              "unk_token": "<unk>", "min_count": 1, "max_size": None}
    assert Vocabulary.from_config(config).tokens[2:] == ["dog", "cat"]
    with pytest.raises(ValueError, match=message):
        Vocabulary.from_config({**config, **change})
    with pytest.raises(ValueError, match="expected a dict"):
        Vocabulary.from_config(["dog"])
