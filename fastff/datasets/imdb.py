"""IMDB movie-review sentiment (``keras.datasets.imdb``): 25,000 training and 25,000 test
reviews as lists of word indices (ranked by frequency), labels 1 positive / 0 negative."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from fastff.utils.file_utils import get_file

from ._common import (
    ORIGIN,
    check_sequence_args,
    drop_long,
    object_array,
    shift,
    vocabulary_filter,
)
from ._npz import load_npz

SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``, as Keras computes them.

    ``x_*`` are 1-D object arrays of lists of ints; ``y_*`` integer labels. Each set is
    shuffled with one ``np.random.RandomState(seed)`` (train first). Every word index ``w``
    becomes ``w + index_from`` and each review starts with ``start_char`` (None: no start
    mark). ``maxlen`` drops (not truncates) reviews of ``maxlen`` or more indices (start mark
    included). Indices outside ``[skip_top, num_words)`` become ``oov_char`` (None: they are
    removed); without ``num_words`` the limit is the largest index present, which therefore
    itself becomes ``oov_char``, as in Keras. The file is decoded without unpickling.
    """
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected arguments {sorted(kwargs)}")
    check_sequence_args(num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    path = get_file(fname=path, origin=f"{ORIGIN}imdb.npz", file_hash=SHA256)
    f = load_npz(path)
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]

    rng = np.random.RandomState(seed)  # noqa: NPY002 - Keras's exact shuffle
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, labels_train = x_train[order], labels_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, labels_test = x_test[order], labels_test[order]

    x_train = shift(x_train, start_char, index_from)
    x_test = shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no "
                             "sequence was kept. Increase maxlen.")
    labels = np.concatenate([np.asarray(labels_train, dtype=f["y_train"].dtype),
                             np.asarray(labels_test, dtype=f["y_test"].dtype)])
    xs = vocabulary_filter(x_train + x_test, num_words, skip_top, oov_char)
    cut = len(x_train)
    return (object_array(xs[:cut]), labels[:cut]), (object_array(xs[cut:]), labels[cut:])


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """``{word: index}`` of the IMDB vocabulary (index 1 is the most frequent word; add
    ``index_from`` to match ``load_data``'s sequences)."""
    path = get_file(fname=path, origin=f"{ORIGIN}imdb_word_index.json",
                    file_hash=WORD_INDEX_MD5)
    with open(path, encoding="utf-8") as f:
        return json.load(f)
