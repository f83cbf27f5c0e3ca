"""Turn id sequences into model inputs: padded matrices, token windows, tagger features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike


def pad_sequences(
    sequences: Sequence[ArrayLike],
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "post",
    value: float = 0,
    dtype: DTypeLike = "int32",
) -> np.ndarray:
    """Stack variable-length sequences into a ``(n, maxlen)`` matrix (Keras semantics).

    ``maxlen=None`` uses the longest sequence. Longer sequences lose values at the
    start (``truncating="pre"``) or end (``"post"``); shorter ones are filled with
    ``value`` before (``padding="pre"``) or after (``"post"``). Note the defaults
    here are ``"post"`` for both, which suits taggers and averaging networks;
    Keras defaults to ``"pre"``.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post", got {truncating!r}')
    arrays = [np.asarray(s) for s in sequences]
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ValueError(f"sequence {i} has shape {a.shape}; expected a 1-D sequence")
    if maxlen is None:
        maxlen = max((len(a) for a in arrays), default=0)
    if maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, got {maxlen}")
    out = np.full((len(arrays), maxlen), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, a in enumerate(arrays):
        if len(a) == 0:
            continue
        trunc = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, : len(trunc)] = trunc
        else:
            out[i, maxlen - len(trunc) :] = trunc
    return out


def windows(
    ids_per_sentence: Sequence[ArrayLike],
    window: int = 2,
    pad_id: int = 0,
    end_pad_id: int | None = None,
    dtype: DTypeLike = "int32",
) -> np.ndarray:
    """One row per token: the ids of the ``window`` tokens on each side and itself.

    Returns ``(n_tokens, 2 * window + 1)``, tokens of all sentences in order,
    column ``window`` being the token itself. Positions before a sentence's start
    hold ``pad_id``; after its end ``end_pad_id`` (default ``pad_id``), so windows
    never cross sentence boundaries.
    """
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    end_pad = pad_id if end_pad_id is None else end_pad_id
    width = 2 * window + 1
    sentences = [np.asarray(s, dtype=dtype).ravel() for s in ids_per_sentence]
    n_tokens = sum(len(s) for s in sentences)
    if n_tokens == 0:
        return np.zeros((0, width), dtype=dtype)
    # lay sentences out as [start pads, s, end pads, start pads, s, end pads, ...]
    # then take a sliding window centred on every real token.
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    block = lengths + 2 * window
    offsets = np.concatenate(([0], np.cumsum(block)[:-1]))
    flat = np.empty(int(block.sum()), dtype=dtype)
    for s, off in zip(sentences, offsets):
        flat[off : off + window] = pad_id
        flat[off + window : off + window + len(s)] = s
        flat[off + window + len(s) : off + 2 * window + len(s)] = end_pad
    starts = np.repeat(offsets, lengths) + (np.arange(n_tokens) - np.repeat(
        np.cumsum(lengths) - lengths, lengths))
    return flat[starts[:, None] + np.arange(width)]


def word_shape(word: str) -> str:
    """Collapsed word shape: upper -> ``X``, other letters -> ``x``, digits -> ``d``,
    anything else kept; runs of the same symbol collapse to one.

    ``"Hello" -> "Xx"``, ``"U.S." -> "X.X."``, ``"1990s" -> "dx"``, ``"don't" -> "x'x"``.
    """
    out: list[str] = []
    for ch in word:
        if ch.isupper():
            c = "X"
        elif ch.isalpha():
            c = "x"
        elif ch.isdigit():
            c = "d"
        else:
            c = ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def suffix(word: str, n: int = 3, lowercase: bool = True) -> str:
    """Last ``n`` characters (the whole word if shorter), lower-cased by default."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    end = word[-n:]
    return end.lower() if lowercase else end
