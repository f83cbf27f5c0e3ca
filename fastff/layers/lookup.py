"""IntegerLookup and StringLookup (Keras 3 preprocessing): tokens to vocabulary indices.

Index layout, as Keras: ``[mask_token]`` (only when given, and only in ``"int"`` mode), then
``num_oov_indices`` out-of-vocabulary slots, then the vocabulary. Several OOV slots are picked
by ``value % num_oov_indices`` for integers and by CRC-32 of the UTF-8 bytes for strings
(Keras uses a different string hash: the OOV slot a string lands in may differ). ``invert``
maps indices back to tokens. Non-"int" ``output_mode`` encodes through ``CategoryEncoding``'s
encoder (mask tokens are dropped there). ``adapt`` ranks tokens by count (most frequent
first; ties in descending token order, as Keras's ``lexsort`` gives). The vocabulary is
part of the config, so it is saved with the model.

A ``fastff.data.Vocabulary`` may be passed as ``vocabulary`` (its tokens, without its own PAD
and UNK entries, which these layers' mask and OOV slots replace).
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace
from fastff.layers.category_encoding import MODES, _zero_backprop, encode_categorical
from fastff.layers.normalization import _batches


class IndexLookup(Layer):
    """The shared machinery; ``IntegerLookup``/``StringLookup`` fix the token type."""

    min_input_ndim = 1
    _kind = "token"

    def __init__(self, max_tokens: int | None, num_oov_indices: int, mask_token: Any,
                 oov_token: Any, vocabulary: Any = None, invert: bool = False,
                 output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, idf_weights: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if idf_weights is not None or output_mode == "tf_idf":
            raise NotImplementedError(f"{owner}: tf_idf output is not supported")
        if output_mode not in ("int", *MODES):
            raise ValueError(f"{owner}: output_mode must be 'int' or one of {MODES}, got "
                             f"{output_mode!r}")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int) \
                or num_oov_indices < 0:
            raise ValueError(f"{owner}: num_oov_indices must be an int >= 0, got "
                             f"{num_oov_indices!r}")
        if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens <= 1):
            raise ValueError(f"{owner}: max_tokens must be None or > 1, got {max_tokens!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{owner}: invert=True needs output_mode='int', got "
                             f"{output_mode!r}")
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = None if mask_token is None else self._token(mask_token)
        self.oov_token = self._token(oov_token)
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.sparse = bool(sparse)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._vocab: list = []
        self._index: dict = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ---- tokens -------------------------------------------------------------------------
    def _token(self, value: Any) -> Any:
        raise NotImplementedError

    def _oov_slot(self, token: Any) -> int:
        raise NotImplementedError

    @property
    def _use_mask(self) -> bool:
        """The mask slot exists only in "int" mode (Keras)."""
        return self.mask_token is not None and self.output_mode == "int"

    @property
    def _offset(self) -> int:
        return int(self._use_mask) + self.num_oov_indices

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """A list of tokens, a path to a file with one token per line, or a
        ``fastff.data.Vocabulary``; no duplicates, no mask or OOV token inside."""
        from fastff.data.vocab import Vocabulary

        owner = type(self).__name__
        if isinstance(vocabulary, Vocabulary):
            tokens = vocabulary.tokens[2:]
        elif isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                tokens = [line.rstrip("\n").rstrip("\r") for line in f]
            if tokens and tokens[-1] == "":
                tokens.pop()
        else:
            tokens = list(np.asarray(vocabulary).ravel().tolist())
        tokens = [self._token(t) for t in tokens]
        if len(set(tokens)) != len(tokens):
            dup = next(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"{owner}: the vocabulary has repeated token {dup!r}")
        for special, label in ((self.mask_token, "mask_token"), (self.oov_token, "oov_token")):
            if special is not None and special in tokens and not (
                    label == "oov_token" and self.num_oov_indices == 0):
                raise ValueError(f"{owner}: the vocabulary must not contain the {label} "
                                 f"{special!r}")
        if self.max_tokens is not None and len(tokens) + self._offset > self.max_tokens:
            raise ValueError(f"{owner}: a vocabulary of {len(tokens)} tokens plus "
                             f"{self._offset} special indices exceeds max_tokens="
                             f"{self.max_tokens}")
        self._vocab = tokens
        self._index = {t: i + self._offset for i, t in enumerate(tokens)}

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Vocabulary of the tokens of ``data``, most frequent first (replaces the old one)."""
        counts: Counter = Counter()
        for i, batch in enumerate(_batches(data, batch_size)):
            if steps is not None and i >= steps:
                break
            counts.update(self._token(t) for t in np.asarray(batch, dtype=object).ravel())
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[: max(self.max_tokens - self._offset, 0)]
        self.set_vocabulary(ranked)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        if not include_special_tokens:
            return list(self._vocab)
        head = [self.mask_token] if self._use_mask else []
        return head + [self.oov_token] * self.num_oov_indices + list(self._vocab)

    def vocabulary_size(self) -> int:
        return len(self._vocab) + self._offset

    # ---- running ------------------------------------------------------------------------
    def _lookup(self, a: np.ndarray) -> np.ndarray:
        owner = self.name
        get, mask, oov = self._index.get, self.mask_token, self.num_oov_indices
        base = int(self._use_mask)
        out = np.empty(a.size, dtype=np.int64)
        for i, t in enumerate(a.ravel().tolist()):
            t = self._token(t)
            j = get(t)
            if j is None:
                if mask is not None and t == mask:
                    j = 0 if self._use_mask else -1  # dropped by the encoders
                elif oov == 0:
                    raise ValueError(f"{owner}: {t!r} is not in the vocabulary and "
                                     "num_oov_indices=0")
                else:
                    j = base + self._oov_slot(t)
            out[i] = j
        return out.reshape(a.shape)

    def _invert(self, a: np.ndarray) -> np.ndarray:
        vocab = self.get_vocabulary()
        ids = np.asarray(a).astype(np.int64)
        out = np.empty(ids.shape, dtype=object)
        flat = out.reshape(-1)
        for i, j in enumerate(ids.ravel().tolist()):
            flat[i] = vocab[j] if 0 <= j < len(vocab) else self.oov_token
        return self._as_output_tokens(out)

    def _as_output_tokens(self, out: np.ndarray) -> np.ndarray:
        return out

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else \
            self.vocabulary_size()
        if self.output_mode == "one_hot" and len(input_shape) == 1 and input_shape[0] != 1:
            return (*input_shape, depth)
        return (depth,)

    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        a = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
        dt = self.dtype if self.dtype is not None and self.dtype.kind == "f" else \
            np.dtype(np.float32)
        if self.invert:
            return self._invert(a), _zero_backprop(a.shape, dt)
        ids = self._lookup(a)
        if self.output_mode == "int":
            return ids, _zero_backprop(a.shape, dt)
        depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else \
            self.vocabulary_size()
        return encode_categorical(ids, self.output_mode, depth, dt, self.name), \
            _zero_backprop(a.shape, dt)

    def _eager_call(self, x: Any, training: bool = False) -> Any:
        a = np.asarray(x) if isinstance(x, np.ndarray) else np.asarray(x, dtype=object)
        if a.ndim == 0:
            a = a.reshape(1)
        if not self.built:
            self.build_for(a.shape[1:], None)
        return self.forward(a, training)[0]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(max_tokens=self.max_tokens, num_oov_indices=self.num_oov_indices,
                   mask_token=self.mask_token, oov_token=self.oov_token,
                   vocabulary=list(self._vocab), invert=self.invert,
                   output_mode=self.output_mode, sparse=self.sparse,
                   pad_to_max_tokens=self.pad_to_max_tokens)
        return cfg


class StringLookup(IndexLookup):
    """Strings to indices. Takes str or bytes (decoded as ``encoding``)."""

    input_dtype = np.dtype(object)

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: str | None = None, oov_token: str = "[UNK]",
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False,
                 sparse: bool = False, encoding: str = "utf-8", **kwargs: Any):
        self.encoding = encoding
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         invert, output_mode, sparse, pad_to_max_tokens, idf_weights, **kwargs)

    def _token(self, value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode(self.encoding)
        if not isinstance(value, str):
            raise TypeError(f"{type(self).__name__}: expected string tokens, got "
                            f"{type(value).__name__} {value!r}")
        return value

    def _oov_slot(self, token: str) -> int:
        if self.num_oov_indices == 1:
            return 0
        return zlib.crc32(token.encode(self.encoding)) % self.num_oov_indices

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(encoding=self.encoding)
        return cfg


class IntegerLookup(IndexLookup):
    """Integers to indices (e.g. raw category codes to a dense 0..n range)."""

    input_dtype = np.dtype(np.int64)

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: int | None = None, oov_token: int = -1, vocabulary: Any = None,
                 vocabulary_dtype: str = "int64", idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, **kwargs: Any):
        if vocabulary_dtype not in ("int32", "int64"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int32' or 'int64', "
                             f"got {vocabulary_dtype!r}")
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         invert, output_mode, sparse, pad_to_max_tokens, idf_weights, **kwargs)

    def _token(self, value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, np.integer, float, np.floating)) or value != int(value):
            raise TypeError(f"IntegerLookup: expected integer tokens, got {value!r}")
        return int(value)

    def _oov_slot(self, token: int) -> int:
        return token % self.num_oov_indices

    def _lookup(self, a: np.ndarray) -> np.ndarray:
        """Vectorised: a sorted copy of the vocabulary and one ``searchsorted``."""
        if a.dtype.kind not in "iu":
            return super()._lookup(a)
        x = a.astype(np.int64)
        vocab = np.asarray(self._vocab, dtype=np.int64)
        order = np.argsort(vocab, kind="stable")
        svocab = vocab[order]
        pos = np.minimum(np.searchsorted(svocab, x), max(len(svocab) - 1, 0))
        hit = svocab[pos] == x if len(svocab) else np.zeros(x.shape, bool)
        out = np.where(hit, order[pos] + self._offset, 0) if len(svocab) else \
            np.zeros(x.shape, np.int64)
        miss = ~hit
        if self.mask_token is not None:
            is_mask = miss & (x == self.mask_token)
            out[is_mask] = 0 if self._use_mask else -1
            miss &= ~is_mask
        if miss.any():
            if self.num_oov_indices == 0:
                bad = int(x[miss].flat[0])
                raise ValueError(f"{self.name}: {bad!r} is not in the vocabulary and "
                                 "num_oov_indices=0")
            out[miss] = int(self._use_mask) + x[miss] % self.num_oov_indices
        return out.astype(np.int64)

    def _as_output_tokens(self, out: np.ndarray) -> np.ndarray:
        return out.astype(np.int64)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(vocabulary_dtype=self.vocabulary_dtype)
        return cfg
