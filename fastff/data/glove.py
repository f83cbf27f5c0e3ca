"""Read GloVe text vectors and build embedding matrices for a Vocabulary.

The text format is one word per line followed by its ``d`` float values,
space-separated, no header (gzip or plain).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike

from ._io import PathLike, read_lines, where
from .vocab import PAD_ID, Vocabulary

GLOVE_SST_50D = "glove_relativized/glove.6B.50d-relativized.txt.gz"


def load_glove(
    path: PathLike, max_words: int | None = None, dtype: DTypeLike = np.float32
) -> tuple[list[str], np.ndarray]:
    """Read ``(words, vectors)``: a list of n words and an ``(n, d)`` matrix.

    ``d`` is taken from the first line. A word containing spaces (as in some
    GloVe releases) is rebuilt from everything before the last ``d`` fields,
    unless its second field is a number (then the line has too many values).
    A line with a different number of values, a non-number, a ``nan``/``inf``
    value, a value that overflows ``dtype`` (``1e39`` in float32) or bytes that
    are not UTF-8 raise ``ValueError`` naming file and line. Values are converted
    in chunks, so a full 400k x 300 file never holds all its numbers as Python
    strings at once: time and memory are linear in the file's size.
    Duplicate words are kept; :func:`embedding_matrix` uses the first.
    """
    if max_words is not None and (isinstance(max_words, bool) or not isinstance(
            max_words, (int, np.integer)) or max_words < 0):
        raise ValueError(f"max_words: expected None or an integer >= 0, got {max_words!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype: expected a floating-point dtype, got {dtype}")
    words: list[str] = []
    blocks: list[np.ndarray] = []
    rows: list[list[str]] = []
    first_row_line = 1
    dim = None
    for lineno, line in read_lines(path, "GloVe"):
        if max_words is not None and len(words) >= max_words:
            break
        parts = line.split(" ")
        if parts and parts[-1] == "":  # trailing space
            parts.pop()
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise ValueError(f"{where(path, lineno)}: no vector values on the first line "
                                 "(expected 'word v1 v2 ... vd')")
        if len(parts) < dim + 1 or (len(parts) > dim + 1 and _is_number(parts[1])):
            raise ValueError(f"{where(path, lineno)}: expected a word and {dim} values (the "
                             f"first line's count), got {len(parts) - 1} values")
        words.append(" ".join(parts[:-dim]))
        rows.append(parts[-dim:])
        if len(rows) == _CHUNK:
            blocks.append(_to_floats(rows, dtype, path, first_row_line))
            rows, first_row_line = [], lineno + 1
    if dim is None:
        raise ValueError(f"{path}: empty GloVe file")
    if rows:
        blocks.append(_to_floats(rows, dtype, path, first_row_line))
    vectors = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    return words, vectors


_CHUNK = 8192


def _to_floats(rows: list[list[str]], dtype: np.dtype, path: PathLike, first_line: int
               ) -> np.ndarray:
    """One block of rows as ``dtype``; every value a finite number that fits ``dtype``."""
    try:
        block = np.array(rows, dtype=np.float64)
    except ValueError:
        for i, row in enumerate(rows):
            try:
                np.array(row, dtype=np.float64)
            except ValueError as e:
                raise ValueError(f"{where(path, first_line + i)}: {e} (expected numbers)"
                                 ) from None
        raise
    limit = float(np.finfo(dtype).max)
    bad = ~(np.abs(block) <= limit)  # catches nan, inf and overflow in one pass
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        text = rows[i][j]
        reason = ("is not a finite number" if not np.isfinite(block[i, j])
                  else f"overflows {dtype.name} (largest {limit:.4g})")
        raise ValueError(f"{where(path, first_line + i)}: value {j + 1} ({text[:30]!r}) "
                         f"{reason}; expected finite {dtype.name} vector values")
    return block.astype(dtype, copy=False)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class Coverage:
    """How many vocabulary tokens (PAD and UNK excluded) have a pretrained vector."""

    found: int
    total: int
    missing: list[str] = field(default_factory=list, repr=False)

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.found}/{self.total} tokens ({100 * self.fraction:.1f}%) have vectors"


def embedding_matrix(
    vocab: Vocabulary,
    words: list[str],
    vectors: np.ndarray,
    oov: str = "normal",
    scale: float | None = None,
    rng: np.random.Generator | int | None = None,
    lowercase_fallback: bool = True,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, Coverage]:
    """``(len(vocab), d)`` matrix whose row i is the vector of vocabulary token i.

    Tokens without a vector (UNK included) get random-normal rows (``oov="normal"``,
    standard deviation ``scale``, default the standard deviation of ``vectors``,
    drawn from ``rng``) or zeros (``oov="zeros"``). The PAD row is always zero.
    With ``lowercase_fallback``, a token missing as written is looked up lower-cased
    (GloVe 6B is lower-case). Returns the matrix and its :class:`Coverage`.
    """
    if oov not in ("normal", "zeros"):
        raise ValueError(f'oov must be "normal" or "zeros", got {oov!r}')
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise ValueError(f"{len(words)} words for vectors of shape {vectors.shape}")
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    dim = vectors.shape[1]
    if oov == "zeros":
        out = np.zeros((len(vocab), dim), dtype=dtype)
    else:
        sd = float(vectors.std()) if scale is None else scale
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        out = gen.normal(0.0, sd, size=(len(vocab), dim)).astype(dtype)
    out[PAD_ID] = 0
    found, missing = 0, []
    for i, token in enumerate(vocab.tokens[2:], start=2):
        row = index.get(token)
        if row is None and lowercase_fallback:
            row = index.get(token.lower())
        if row is None:
            missing.append(token)
        else:
            out[i] = vectors[row]
            found += 1
    return out, Coverage(found, len(vocab) - 2, missing)


@dataclass
class TextCoverage:
    """How much of a corpus has pretrained vectors: running tokens and distinct types."""

    tokens_found: int
    tokens: int
    types_found: int
    types: int

    @property
    def token_fraction(self) -> float:
        return self.tokens_found / self.tokens if self.tokens else 1.0

    @property
    def type_fraction(self) -> float:
        return self.types_found / self.types if self.types else 1.0

    def __str__(self) -> str:
        return (f"{self.tokens_found}/{self.tokens} tokens ({100 * self.token_fraction:.1f}%) "
                f"and {self.types_found}/{self.types} types ({100 * self.type_fraction:.1f}%) "
                "have vectors")


def text_coverage(sentences: Iterable[Sequence[str]], words: Iterable[str],
                  lowercase_fallback: bool = True) -> TextCoverage:
    """Coverage of the tokens of ``sentences`` by the pretrained ``words`` (a token missing
    as written is looked up lower-cased with ``lowercase_fallback``, as ``embedding_matrix``)."""
    known = set(words)
    counts: dict[str, int] = {}
    for sent in sentences:
        for tok in sent:
            counts[tok] = counts.get(tok, 0) + 1

    def has(tok: str) -> bool:
        return tok in known or (lowercase_fallback and tok.lower() in known)

    found = [t for t in counts if has(t)]
    return TextCoverage(sum(counts[t] for t in found), sum(counts.values()), len(found),
                        len(counts))
