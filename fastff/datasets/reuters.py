"""Reuters newswire topics (``keras.datasets.reuters``): 11,228 newswires as lists of word
indices, labelled with one of 46 topics."""

from __future__ import annotations

import json

import numpy as np

from fastff.utils.file_utils import get_file

from ._common import (
    ORIGIN,
    check_sequence_args,
    check_split,
    drop_long,
    object_array,
    shift,
    vocabulary_filter,
)
from ._npz import load_npz

SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``, as Keras computes them: all newswires are
    shuffled with ``np.random.RandomState(seed)``, shifted by ``index_from`` behind
    ``start_char``, those of ``maxlen`` or more indices dropped, indices outside
    ``[skip_top, num_words)`` replaced by ``oov_char`` (or removed when it is None), and the
    last ``test_split`` of them form the test set. ``x_*`` are 1-D object arrays of lists of
    ints, ``y_*`` integer topic ids (``get_label_names()`` names them)."""
    test_split = check_split(test_split)
    check_sequence_args(num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    path = get_file(fname=path, origin=f"{ORIGIN}reuters.npz", file_hash=SHA256)
    f = load_npz(path)
    xs, labels = f["x"], f["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)  # noqa: NPY002 - Keras's exact shuffle
    xs, labels = xs[order], labels[order]
    xs = shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    labels = np.asarray(labels, dtype=f["y"].dtype)
    xs = vocabulary_filter(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (object_array(xs[:cut]), labels[:cut]), (object_array(xs[cut:]), labels[cut:])


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """``{word: index}`` of the Reuters vocabulary (add ``index_from`` to match
    ``load_data``: 0 padding, 1 start, 2 out-of-vocabulary)."""
    path = get_file(path, origin=f"{ORIGIN}reuters_word_index.json", file_hash=WORD_INDEX_MD5)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed as ``load_data``'s labels."""
    return LABEL_NAMES
