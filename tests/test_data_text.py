"""Sentiment file readers on SST-2 (Durrett and stsa formats) and malformed input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fastff.data import attach_labels, load_sst2, read_blind, read_labeled, tokenize

DATA = Path(os.environ.get("FASTFF_DATA", Path(__file__).parents[1] / ".." / "shared" / "data"))


def need(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found (set FASTFF_DATA to the shared data directory)")
    return path


def test_durrett_train_dev():
    x, y = read_labeled(need("sst2_durrett/train.txt"))
    assert len(x) == 6920 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [3310, 3610]
    assert x[0][:4] == ["The", "Rock", "is", "destined"] and y[0] == 1
    assert "co-writer\\/director" in x[1]  # escapes kept as in the file
    x, y = read_labeled(need("sst2_durrett/dev.txt"), fmt="tab")
    assert np.bincount(y).tolist() == [428, 444]


def test_stsa_space_format_and_lowercase():
    x, y = read_labeled(need("sst2_stsa_binary/stsa.binary.test"))  # auto-detects space
    assert len(x) == 1821 and np.bincount(y).tolist() == [912, 909]
    assert x[0] == "no movement , no yuks , not much of anything .".split() and y[0] == 0
    xd, _ = read_labeled(need("sst2_durrett/train.txt"), lowercase=True)
    xs, _ = read_labeled(need("sst2_stsa_binary/stsa.binary.train"), fmt="space")
    # same sentence sets, lower-cased, in another order (SOURCES.md)
    assert sorted(map(tuple, xd)) == sorted(map(tuple, xs))


def test_load_sst2_attaches_test_labels():
    need("sst2_durrett/test-blind.txt")
    need("sst2_stsa_binary/stsa.binary.test")
    sets = load_sst2(DATA)
    assert {k: len(v[0]) for k, v in sets.items()} == {"train": 6920, "dev": 872, "test": 1821}
    x, y = sets["test"]
    assert np.bincount(y).tolist() == [912, 909]
    assert x[0][0] == "If"  # mixed case is kept unless lowercase=True
    assert load_sst2(DATA, lowercase=True)["test"][0][0][0] == "if"


def test_tokenize():
    assert tokenize("It 's  a\tgood  film .\n") == ["It", "'s", "a", "good", "film", "."]
    assert tokenize("It 's", lowercase=True) == ["it", "'s"]


def test_blank_lines_skipped_in_labeled_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1\tgood film\n\n0\tbad  film\r\n")
    x, y = read_labeled(path)
    assert x == [["good", "film"], ["bad", "film"]] and y.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "fmt", "line", "message"),
    [
        ("1\tok\nno separator here\n", "tab", 2, "separator"),
        ("1\tok\npos\tnice\n", "tab", 2, "not an integer"),
        ("1 ok\n0 \n", "space", 2, "empty sentence"),
        ("1\tok\n\n0\t   \n", "tab", 3, "empty sentence"),
    ],
)
def test_malformed_labeled_lines(tmp_path, text, fmt, line, message):
    path = tmp_path / "sent.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"sent.txt:{line}: .*{message}"):
        read_labeled(path, fmt=fmt)


def test_bad_format_name(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1\tok\n")
    with pytest.raises(ValueError, match="fmt"):
        read_labeled(path, fmt="csv")


def test_blind_blank_line_is_an_error(tmp_path):
    path = tmp_path / "blind.txt"
    path.write_text("a film\n\nanother\n")
    with pytest.raises(ValueError, match="blind.txt:2: empty sentence"):
        read_blind(path)


def test_attach_labels_missing_and_conflicting():
    ref = ([["A", "b"], ["c"], ["C"]], np.array([1, 0, 1]))
    assert attach_labels([["a", "B"]], ref).tolist() == [1]
    with pytest.raises(KeyError, match="1 of 2 sentences"):
        attach_labels([["a", "b"], ["zzz"]], ref)
    with pytest.raises(ValueError, match="conflicting"):
        attach_labels([["c"]], ref)
