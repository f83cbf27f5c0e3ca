"""What the dataset loaders share: the download folder and the word-index sequence filter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: where Keras keeps its dataset files
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def check_split(test_split: float, name: str = "test_split") -> float:
    """``test_split`` must be a number in [0, 1) (Keras's check in boston_housing)."""
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float, np.floating)) \
            or not 0 <= test_split < 1:
        raise ValueError(f"Invalid `{name}` argument: {test_split!r}. It must be between 0 and 1 "
                         "(exclusive of 1).")
    return float(test_split)


def check_int(value: object, name: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer{' or None' if allow_none else ''}, "
                        f"got {value!r}")


def shift(seqs: Sequence, start_char: int | None, index_from: int) -> list[list[int]]:
    """Prefix each sequence with ``start_char`` (unless None) and add ``index_from`` to every
    word index, as Keras's imdb / reuters loaders."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in seqs]
    if index_from:
        return [[w + index_from for w in x] for x in seqs]
    return [list(x) for x in seqs]


def drop_long(maxlen: int, seqs: list, labels: Sequence) -> tuple[list, list]:
    """Keep the sequences *shorter* than ``maxlen`` (Keras drops, not truncates, the others)."""
    kept = [(x, y) for x, y in zip(seqs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def vocabulary_filter(seqs: list, num_words: int | None, skip_top: int,
                      oov_char: int | None) -> list[list[int]]:
    """Replace (or, with ``oov_char=None``, drop) indices outside ``[skip_top, num_words)``.

    With ``num_words`` falsy Keras uses the largest index present, so that one index itself
    falls outside the range (kept as Keras does).
    """
    if not num_words:
        num_words = max(max(x) for x in seqs if len(x)) if any(len(x) for x in seqs) else 0
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in seqs]
    return [[w for w in x if skip_top <= w < num_words] for x in seqs]


def object_array(seqs: list) -> np.ndarray:
    """A 1-D object array of lists (also when every list has the same length)."""
    out = np.empty(len(seqs), dtype=object)
    for i, x in enumerate(seqs):
        out[i] = x
    return out


def check_sequence_args(num_words: object, skip_top: object, maxlen: object, seed: object,
                        start_char: object, oov_char: object, index_from: object) -> None:
    check_int(num_words, "num_words", allow_none=True)
    check_int(skip_top, "skip_top")
    check_int(maxlen, "maxlen", allow_none=True)
    check_int(seed, "seed", allow_none=True)
    check_int(start_char, "start_char", allow_none=True)
    check_int(oov_char, "oov_char", allow_none=True)
    check_int(index_from, "index_from")
