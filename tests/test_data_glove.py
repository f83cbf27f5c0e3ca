"""GloVe text reader and embedding-matrix construction."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from fastff.data import PAD_ID, UNK_ID, Vocabulary, embedding_matrix, load_glove, read_labeled

DATA = Path(os.environ.get("FASTFF_DATA", Path(__file__).parents[1] / ".." / "shared" / "data"))
GLOVE = "glove_relativized/glove.6B.50d-relativized.txt.gz"


@pytest.fixture(scope="module")
def glove():
    path = DATA / GLOVE
    if not path.exists():
        pytest.skip(f"{path} not found (set FASTFF_DATA to the shared data directory)")
    return load_glove(path)


def test_relativized_glove(glove):
    words, vectors = glove
    assert len(words) == 16114 and vectors.shape == (16114, 50) and vectors.dtype == np.float32
    assert words[:3] == ["the", ",", "."]
    np.testing.assert_allclose(vectors[0, :3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    assert len(set(words)) == len(words)


def test_coverage_of_sst_train_dev_matches_sources(glove):
    words, vectors = glove
    sentences = []
    for split in ("train", "dev"):
        sentences += read_labeled(DATA / f"sst2_durrett/{split}.txt", lowercase=True)[0]
    vocab = Vocabulary(sentences)
    matrix, coverage = embedding_matrix(vocab, words, vectors, rng=0, lowercase_fallback=False)
    assert matrix.shape == (len(vocab), 50) and matrix.dtype == np.float32
    assert coverage.total == len(vocab) - 2
    assert round(100 * coverage.fraction, 1) == 92.4  # SOURCES.md: 92.4% of word types
    assert len(coverage.missing) == coverage.total - coverage.found
    np.testing.assert_array_equal(matrix[vocab.lookup("the")], vectors[0])
    assert not matrix[PAD_ID].any()


def test_small_file_plain_and_gzip(tmp_path):
    text = "the 0.5 -1.0 2\ncat 1e-3 0 0.25\nNew York 1 2 3\n"
    (tmp_path / "v.txt").write_text(text)
    (tmp_path / "v.gz").write_bytes(gzip.compress(text.encode()))
    for name in ("v.txt", "v.gz"):
        words, vectors = load_glove(tmp_path / name)
        assert words == ["the", "cat", "New York"]
        np.testing.assert_array_equal(vectors[1], np.float32([0.001, 0, 0.25]))
    words, vectors = load_glove(tmp_path / "v.txt", max_words=2, dtype=np.float64)
    assert words == ["the", "cat"] and vectors.dtype == np.float64


@pytest.mark.parametrize(
    ("text", "line"),
    [("a 1 2 3\nb 1 2\n", 2), ("a 1 2 3\nb 1 2 3 4\n", 2), ("a 1 2\nb 1 x\n", 2), ("a 1\n\n", 2)],
)
def test_malformed_glove_names_line(tmp_path, text, line):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad.txt:{line}"):
        load_glove(path)


def test_embedding_matrix_oov_rows():
    vocab = Vocabulary([["The", "cat", "zzz", "cat"]])
    words, vectors = ["the", "cat"], np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    m, cov = embedding_matrix(vocab, words, vectors, oov="zeros")
    assert (cov.found, cov.total, cov.missing) == (2, 3, ["zzz"])
    np.testing.assert_array_equal(m[vocab.lookup("The")], [1, 2])  # lower-case fallback
    assert not m[vocab.lookup("zzz")].any() and not m[UNK_ID].any()
    m1, _ = embedding_matrix(vocab, words, vectors, scale=0.5, rng=np.random.default_rng(3))
    m2, _ = embedding_matrix(vocab, words, vectors, scale=0.5, rng=3)
    np.testing.assert_array_equal(m1, m2)
    assert m1[vocab.lookup("zzz")].any() and not m1[PAD_ID].any()
    _, cov = embedding_matrix(vocab, words, vectors, lowercase_fallback=False)
    assert cov.found == 1 and "1/3" in str(cov)
    with pytest.raises(ValueError, match="oov"):
        embedding_matrix(vocab, words, vectors, oov="uniform")


def test_chunked_conversion_keeps_rows_and_line_numbers(tmp_path, monkeypatch):
    import fastff.data.glove as glove_module

    monkeypatch.setattr(glove_module, "_CHUNK", 4)
    path = tmp_path / "many.txt"
    path.write_text("".join(f"w{i} {i} {-i}\n" for i in range(10)))
    words, vectors = load_glove(path)
    assert words[-1] == "w9" and vectors[:, 0].tolist() == list(range(10))
    path.write_text("".join(f"w{i} {i} {-i}\n" for i in range(9)) + "w9 1 oops\n")
    with pytest.raises(ValueError, match=r"many.txt:10: .*oops"):
        load_glove(path)


def test_text_coverage_counts_tokens_and_types():
    from fastff.data import text_coverage

    sents = [["The", "cat", "sat"], ["the", "zyzzyva", "cat"], ["zyzzyva"]]
    cov = text_coverage(sents, ["the", "cat", "sat"])
    assert (cov.tokens_found, cov.tokens, cov.types_found, cov.types) == (5, 7, 4, 5)
    assert cov.token_fraction == 5 / 7 and cov.type_fraction == 4 / 5
    assert "5/7 tokens (71.4%) and 4/5 types (80.0%)" in str(cov)
    strict = text_coverage(sents, ["the", "cat", "sat"], lowercase_fallback=False)
    assert (strict.tokens_found, strict.types_found) == (4, 3)
    empty = text_coverage([], ["a"])
    assert empty.token_fraction == 1.0 and empty.types == 0
