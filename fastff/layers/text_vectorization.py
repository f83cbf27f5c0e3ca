"""TextVectorization (Keras 3 preprocessing): raw strings to token indices or bag-of-words rows.

Each string is standardized (``"lower_and_strip_punctuation"`` by default: ASCII letters
lowercased, as ``tf.strings.lower`` does, and the ASCII punctuation Keras strips removed),
split (on runs of ASCII whitespace, into characters, or by a callable), turned into n-grams
(joined by one space, widths in the order given), then looked up by a ``StringLookup`` with
mask token ``""`` (index 0, the padding) and one OOV slot ``"[UNK]"`` (index 1). ``"int"``
output pads with 0 (or truncates) to ``output_sequence_length``, else to the batch's longest
text; ``multi_hot`` and ``count`` give one row per text.
``adapt`` ranks the tokens as ``StringLookup.adapt`` does: most frequent first, ties in
descending token order. ``tf_idf`` is not supported. A callable ``standardize`` gets and
returns a NumPy array of strings; a callable ``split`` gets one string and returns its tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace
from fastff.layers.category_encoding import _zero_backprop
from fastff.layers.lookup import StringLookup
from fastff.layers.normalization import _batches

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
OUTPUT_MODES = ("int", "multi_hot", "count")  # Keras's, less tf_idf
# the characters Keras's default standardization removes
_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def _check_choice(value: Any, choices: tuple, name: str) -> None:
    if value is not None and not callable(value) and value not in choices:
        raise ValueError(f"TextVectorization: {name} must be None, a callable or one of "
                         f"{choices}, got {value!r}")


def _ngram_widths(ngrams: Any) -> tuple[int, ...] | None:
    if ngrams is None:
        return None
    if isinstance(ngrams, int) and not isinstance(ngrams, bool):
        if ngrams < 1:
            raise ValueError(f"TextVectorization: ngrams must be >= 1, got {ngrams}")
        return tuple(range(1, ngrams + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in ngrams):
        return tuple(ngrams)
    raise ValueError("TextVectorization: ngrams must be None, an integer >= 1 or a tuple of "
                     f"them, got {ngrams!r}")


class TextVectorization(Layer):
    """Strings of shape ``(batch,)`` or ``(batch, 1)`` to ``(batch, length)`` int64 indices
    (``output_mode="int"``) or ``(batch, vocabulary_size)`` rows (the other modes)."""

    input_dtype = np.dtype(object)

    def __init__(self, max_tokens: int | None = None,
                 standardize: str | Callable | None = "lower_and_strip_punctuation",
                 split: str | Callable | None = "whitespace", ngrams: Any = None,
                 output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary: Any = None,
                 idf_weights: Any = None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", **kwargs: Any):
        for key in ("has_input_vocabulary", "vocabulary_size"):  # Keras's saved extras
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        _check_choice(standardize, STANDARDIZE, "standardize")
        _check_choice(split, SPLIT, "split")
        if ragged:
            raise NotImplementedError("TextVectorization: ragged=True is not supported "
                                      "(outputs are padded arrays)")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of "
                             f"{OUTPUT_MODES}, got {output_mode!r}"
                             + (" (tf_idf is not supported)" if output_mode == "tf_idf"
                                else ""))
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError("TextVectorization: output_sequence_length applies to "
                                 f"output_mode='int' only, got output_mode={output_mode!r}")
            if isinstance(output_sequence_length, bool) or not isinstance(
                    output_sequence_length, int) or output_sequence_length < 1:
                raise ValueError("TextVectorization: output_sequence_length must be None or "
                                 f"an integer >= 1, got {output_sequence_length!r}")
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._widths = _ngram_widths(ngrams)
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, mask_token="", oov_token="[UNK]", vocabulary=vocabulary,
            idf_weights=idf_weights, output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, encoding=encoding,
            name=f"{self.name}_lookup")

    # ---- text to tokens -----------------------------------------------------------------
    def _texts(self, x: Any) -> tuple[np.ndarray, bool]:
        """The texts as a 1-D object array, and whether the input was one string."""
        scalar = isinstance(x, (str, bytes))
        a = np.asarray([x] if scalar else x, dtype=object)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"{self.name}: expected strings of shape (batch,) or (batch, 1), "
                             f"got shape {a.shape}")
        out = np.empty(a.shape[0], dtype=object)
        for i, t in enumerate(a.tolist()):
            if isinstance(t, bytes):
                t = t.decode(self.encoding)
            if not isinstance(t, str):
                raise TypeError(f"{self.name}: expected strings, got {type(t).__name__} "
                                f"{t!r}")
            out[i] = t
        return out, scalar

    def _standardized(self, texts: np.ndarray) -> list[str]:
        std = self.standardize
        if callable(std):
            out = np.asarray(std(np.asarray(texts.tolist(), dtype=str)), dtype=object)
            if out.shape != texts.shape:
                raise ValueError(f"{self.name}: the standardize callable returned shape "
                                 f"{out.shape} for {texts.shape[0]} texts")
            return [str(t) for t in out.tolist()]
        items = texts.tolist()
        if std in ("lower", "lower_and_strip_punctuation"):
            items = [t.translate(_ASCII_LOWER) for t in items]
        if std in ("strip_punctuation", "lower_and_strip_punctuation"):
            items = [_PUNCTUATION.sub("", t) for t in items]
        return items

    def _split_one(self, text: str) -> list[str]:
        if self.split is None:
            return [text]
        if self.split == "whitespace":
            return [t for t in _WHITESPACE.split(text) if t]
        if self.split == "character":
            return list(text)
        tokens = self.split(text)
        return [str(t) for t in (tokens.tolist() if isinstance(tokens, np.ndarray)
                                 else tokens)]

    def _with_ngrams(self, tokens: list[str]) -> list[str]:
        if self._widths is None:
            return tokens
        out: list[str] = []
        for w in self._widths:
            out.extend(" ".join(tokens[i:i + w]) for i in range(len(tokens) - w + 1))
        return out

    def tokenize(self, x: Any) -> list[list[str]]:
        """The tokens (n-grams included) of each text, before the lookup."""
        texts, _ = self._texts(x)
        return [self._with_ngrams(self._split_one(t)) for t in self._standardized(texts)]

    # ---- vocabulary ---------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Vocabulary of the tokens of ``data`` (strings, or an iterable of batches of them),
        most frequent first; replaces the old one."""
        def token_batches() -> Iterable[np.ndarray]:
            source = [data] if isinstance(data, (str, bytes)) else data
            for i, batch in enumerate(_batches(source, batch_size)):
                if steps is not None and i >= steps:
                    break
                flat = [t for doc in self.tokenize(batch) for t in doc]
                yield np.asarray(flat, dtype=object)

        self._lookup_layer.adapt(token_batches())

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    # ---- running ------------------------------------------------------------------------
    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.output_mode != "int":
            lookup = self._lookup_layer
            depth = lookup.max_tokens if lookup.pad_to_max_tokens and lookup.max_tokens else \
                lookup.vocabulary_size()
            return (depth,)
        return (self.output_sequence_length,) if self.output_sequence_length else (None,)

    def _vectorize(self, x: Any) -> np.ndarray:
        docs = self.tokenize(x)
        lookup = self._lookup_layer
        if self.output_mode != "int":
            n = len(docs)
            width = max((len(d) for d in docs), default=0)
            tokens = np.full((n, max(width, 1)), "", dtype=object)  # "" is the dropped mask
            for i, d in enumerate(docs):
                tokens[i, :len(d)] = d
            return lookup.forward(tokens)[0]
        length = self.output_sequence_length or max((len(d) for d in docs), default=0)
        out = np.zeros((len(docs), length), dtype=np.int64)
        kept = [d[:length] for d in docs]
        flat = np.asarray([t for d in kept for t in d], dtype=object)
        if flat.size:  # one lookup for the batch, scattered into the padded rows
            counts = np.fromiter((len(d) for d in kept), dtype=np.int64, count=len(kept))
            rows = np.repeat(np.arange(len(kept)), counts)
            cols = np.arange(flat.size) - np.repeat(np.cumsum(counts) - counts, counts)
            out[rows, cols] = lookup._lookup(flat)
        return out

    def forward(self, x: Any, training: bool = False, ws: Workspace | None = None):
        out = self._vectorize(x)
        dt = self.dtype if self.dtype is not None and self.dtype.kind == "f" else \
            np.dtype(np.float32)
        return out, _zero_backprop(np.shape(x), dt)

    def _eager_call(self, x: Any, training: bool = False) -> Any:
        texts, scalar = self._texts(x)  # (no weights: left unbuilt, for any input shape)
        out = self._vectorize(texts)
        return out[0] if scalar else out

    def get_config(self) -> dict:
        cfg = super().get_config()
        lookup = self._lookup_layer
        cfg.update(max_tokens=lookup.max_tokens, standardize=self.standardize,
                   split=self.split, ngrams=self.ngrams, output_mode=self.output_mode,
                   output_sequence_length=self.output_sequence_length,
                   pad_to_max_tokens=lookup.pad_to_max_tokens,
                   vocabulary=lookup.get_vocabulary(include_special_tokens=False),
                   sparse=lookup.sparse, ragged=False, encoding=self.encoding)
        return cfg
