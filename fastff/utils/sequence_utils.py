"""Keras's ``pad_sequences``: variable-length sequences into one padded array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pad_sequences"]


def _is_string_dtype(dtype: Any) -> bool:
    try:
        return np.issubdtype(np.dtype(dtype), np.str_)
    except TypeError:
        return False


def pad_sequences(sequences: Sequence[Any], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """An array ``(len(sequences), maxlen, *sample_shape)`` of the sequences, padded with
    ``value`` and cut to ``maxlen`` (default: the longest), at the start (``"pre"``, Keras's
    default) or the end (``"post"``).

    Samples may be scalars or arrays of one shape (taken from the first non-empty sequence).
    String values need ``dtype=object`` (or a string dtype), as in Keras.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    lengths = []
    sample_shape: tuple[int, ...] = ()
    found = False
    for x in sequences:
        try:
            lengths.append(len(x))
        except TypeError:
            raise ValueError("`sequences` must be a list of iterables. Found non-iterable: "
                             f"{x!s}") from None
        if not found and len(x):
            sample_shape = np.asarray(x).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"maxlen: expected None or an integer >= 0, got {maxlen!r}")
    maxlen = int(maxlen)
    if isinstance(value, str) and dtype is not object and not _is_string_dtype(dtype):
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {i} "
                             f"is different from expected shape {sample_shape}")
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, maxlen - len(trunc):] = trunc
    return out
