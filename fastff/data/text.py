"""Read sentence-level sentiment files.

Two labelled formats, both pre-tokenized (tokens are separated by whitespace):

- ``"tab"`` (Durrett's course format, ``sst2_durrett``): ``label<TAB>sentence``;
- ``"space"`` (Kim 2014 / harvardnlp ``stsa.binary.*``): ``label<space>sentence``;

and test-blind files with one unlabelled sentence per line. ``attach_labels``
recovers test-blind labels by a lower-cased lookup in a labelled file.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._io import PathLike, read_lines, where
from .paths import data_file

Sentences = list[list[str]]
Format = Literal["tab", "space", "auto"]

SST2_DURRETT = "sst2_durrett"
SST2_STSA = "sst2_stsa_binary"


def tokenize(sentence: str, lowercase: bool = False) -> list[str]:
    """Whitespace split (the data is already tokenized), optionally lower-cased."""
    return (sentence.lower() if lowercase else sentence).split()


def _detect_format(path: PathLike) -> str:
    for _, line in read_lines(path, "labelled sentences"):
        if line.strip():
            return "tab" if "\t" in line else "space"
    return "tab"


def read_labeled(
    path: PathLike, fmt: Format = "auto", lowercase: bool = False
) -> tuple[Sentences, np.ndarray]:
    """Read ``label<sep>sentence`` lines into ``(token lists, int64 labels)``.

    ``fmt`` is ``"tab"``, ``"space"`` or ``"auto"`` (tab if the first non-blank line
    has one). Blank lines are skipped. A line without separator, with a non-integer
    label or with an empty sentence raises ``ValueError`` naming file and line.
    """
    if fmt == "auto":
        fmt = _detect_format(path)
    if fmt not in ("tab", "space"):
        raise ValueError(f"fmt must be 'tab', 'space' or 'auto', got {fmt!r}")
    sep = "\t" if fmt == "tab" else " "
    sentences: Sentences = []
    labels: list[int] = []
    for lineno, line in read_lines(path, "labelled sentences"):
        if not line.strip():
            continue
        label, found, text = line.partition(sep)
        if not found:
            raise ValueError(f"{where(path, lineno)}: expected 'label{sep!r}sentence', "
                             f"no {sep!r} separator in {line[:60]!r}")
        value = _label(label)
        if value is None:
            raise ValueError(f"{where(path, lineno)}: label {label[:20]!r} is not an integer "
                             "(expected an int64 class id)")
        tokens = tokenize(text, lowercase)
        if not tokens:
            raise ValueError(f"{where(path, lineno)}: empty sentence")
        sentences.append(tokens)
        labels.append(value)
    return sentences, np.asarray(labels, dtype=np.int64)


def read_blind(path: PathLike, lowercase: bool = False) -> Sentences:
    """Read one unlabelled sentence per line; a blank line raises ``ValueError``.

    Blank lines are errors rather than skipped so that line i of a predictions
    file always belongs to line i of the input.
    """
    sentences: Sentences = []
    for lineno, line in read_lines(path, "sentences"):
        tokens = tokenize(line, lowercase)
        if not tokens:
            raise ValueError(f"{where(path, lineno)}: empty sentence")
        sentences.append(tokens)
    return sentences


def _label(text: str) -> int | None:
    """``text`` as an int64 label, or None (not an integer, or out of int64's range)."""
    text = text.strip()
    body = text[1:] if text[:1] in "+-" else text
    if not (0 < len(body) <= 19 and body.isascii() and body.isdecimal()):
        return None
    value = int(text)
    return value if -2**63 <= value < 2**63 else None


def attach_labels(
    sentences: Sentences, labeled: tuple[Sentences, np.ndarray] | PathLike
) -> np.ndarray:
    """Labels for unlabelled ``sentences`` looked up (lower-cased) in a labelled set.

    ``labeled`` is ``(sentences, labels)`` or a path read with :func:`read_labeled`.
    Raises ``KeyError`` if a sentence is missing and ``ValueError`` if a sentence
    occurs in the labelled set with two different labels.
    """
    if not isinstance(labeled, tuple):
        labeled = read_labeled(labeled)
    ref_sentences, ref_labels = labeled
    table: dict[str, int] = {}
    conflicting: set[str] = set()
    for tokens, label in zip(ref_sentences, ref_labels):
        key = " ".join(tokens).lower()
        if table.setdefault(key, int(label)) != int(label):
            conflicting.add(key)
    out = np.empty(len(sentences), dtype=np.int64)
    missing = []
    for i, tokens in enumerate(sentences):
        key = " ".join(tokens).lower()
        if key in conflicting:
            raise ValueError(f"sentence {i} has conflicting labels in the reference: {key[:60]!r}")
        if key not in table:
            missing.append(i)
            continue
        out[i] = table[key]
    if missing:
        raise KeyError(f"{len(missing)} of {len(sentences)} sentences have no label "
                       f"(first: sentence {missing[0]}: {' '.join(sentences[missing[0]])[:60]!r})")
    return out


def load_sst2(
    data_dir: PathLike | None = None, lowercase: bool = False
) -> dict[str, tuple[Sentences, np.ndarray]]:
    """SST-2 in the course format: ``{"train", "dev", "test"}`` -> ``(sentences, labels)``.

    train/dev come from ``sst2_durrett``; test is ``test-blind.txt`` with labels
    attached from ``sst2_stsa_binary/stsa.binary.test``.
    """
    train = read_labeled(data_file(f"{SST2_DURRETT}/train.txt", data_dir), "tab", lowercase)
    dev = read_labeled(data_file(f"{SST2_DURRETT}/dev.txt", data_dir), "tab", lowercase)
    blind = read_blind(data_file(f"{SST2_DURRETT}/test-blind.txt", data_dir), lowercase)
    reference = read_labeled(data_file(f"{SST2_STSA}/stsa.binary.test", data_dir), "space")
    return {"train": train, "dev": dev, "test": (blind, attach_labels(blind, reference))}
