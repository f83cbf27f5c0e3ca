"""Token <-> id mapping with reserved padding and unknown ids.

Id 0 is PAD and id 1 is UNK; real tokens follow in a deterministic order
(frequency descending, then the token itself), so the same corpus always gives
the same ids. ``get_config`` is a plain JSON-able dict, saved with a model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

PAD_ID = 0
UNK_ID = 1


class Vocabulary:
    """Vocabulary built from an iterable of token sequences (or of single tokens).

    ``min_count`` drops rarer tokens; ``max_size`` caps the total size, the two
    reserved entries included. Tokens equal to ``pad_token``/``unk_token`` in the
    data are not counted as ordinary tokens.
    """

    def __init__(
        self,
        sentences: Iterable[Iterable[str] | str] = (),
        min_count: int = 1,
        max_size: int | None = None,
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
    ) -> None:
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (PAD and UNK), got {max_size}")
        if pad_token == unk_token:
            raise ValueError("pad_token and unk_token must differ")
        counts: Counter[str] = Counter()
        for item in sentences:
            if isinstance(item, str):
                counts[item] += 1
            else:
                counts.update(item)
        counts.pop(pad_token, None)
        counts.pop(unk_token, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_count),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - 2]
        self.pad_token = pad_token
        self.unk_token = unk_token
        self.min_count = min_count
        self.max_size = max_size
        self.counts: dict[str, int] = {t: counts[t] for t in ranked}
        self._set_tokens([pad_token, unk_token, *ranked])

    def _set_tokens(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}
        if len(self._index) != len(tokens):
            raise ValueError("vocabulary tokens are not unique")

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, PAD and UNK first."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, min_count={self.min_count}, max_size={self.max_size})"

    def lookup(self, token: str) -> int:
        """Id of ``token``; UNK for unknown tokens."""
        return self._index.get(token, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids (int32) of ``tokens``; unknown tokens map to UNK (1)."""
        get = self._index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32)

    def encode_all(self, sentences: Iterable[Iterable[str]]) -> list[np.ndarray]:
        """:meth:`encode` for each sentence."""
        return [self.encode(s) for s in sentences]

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Tokens of ``ids``; raises ``IndexError`` for an id outside the vocabulary."""
        out = []
        for i in np.asarray(ids, dtype=np.int64).ravel():
            if not 0 <= i < len(self._tokens):
                raise IndexError(f"id {i} outside vocabulary of size {len(self)}")
            out.append(self._tokens[i])
        return out

    def get_config(self) -> dict[str, Any]:
        """JSON-able dict that :meth:`from_config` turns back into an equal vocabulary."""
        return {
            "tokens": self._tokens[2:],
            "counts": [self.counts.get(t, 0) for t in self._tokens[2:]],
            "pad_token": self.pad_token,
            "unk_token": self.unk_token,
            "min_count": self.min_count,
            "max_size": self.max_size,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vocabulary:
        """Rebuild from :meth:`get_config` output, keeping the stored id order exactly.

        Every field is type- and range-checked (a config may come from a file):
        ``ValueError`` names the field and what was expected.
        """
        if not isinstance(config, dict):
            raise ValueError(f"Vocabulary config: expected a dict, got {type(config).__name__}")
        unknown = set(config) - {"tokens", "counts", "pad_token", "unk_token", "min_count",
                                 "max_size"}
        if unknown:
            raise ValueError(f"Vocabulary config: unknown fields {sorted(unknown)}")
        pad = config.get("pad_token", "<pad>")
        unk = config.get("unk_token", "<unk>")
        for name, value in (("pad_token", pad), ("unk_token", unk)):
            if not isinstance(value, str):
                raise ValueError(f"Vocabulary config: {name} must be a string, got "
                                 f"{type(value).__name__}")
        min_count = config.get("min_count", 1)
        max_size = config.get("max_size")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Vocabulary config: min_count must be an integer >= 1, got "
                             f"{min_count!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < 2):
            raise ValueError(f"Vocabulary config: max_size must be None or an integer >= 2, got "
                             f"{max_size!r}")
        tokens = config.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("Vocabulary config: tokens must be a list of strings")
        counts = config.get("counts") or [0] * len(tokens)
        if (not isinstance(counts, list) or len(counts) != len(tokens)
                or not all(type(c) is int and c >= 0 for c in counts)):
            raise ValueError(f"Vocabulary config: counts must be a list of {len(tokens)} "
                             "integers >= 0 (one per token)")
        if max_size is not None and len(tokens) + 2 > max_size:
            raise ValueError(f"Vocabulary config: {len(tokens)} tokens exceed max_size "
                             f"{max_size} (PAD and UNK included)")
        vocab = cls(min_count=min_count, max_size=max_size, pad_token=pad, unk_token=unk)
        vocab.counts = dict(zip(tokens, counts))
        vocab._set_tokens([vocab.pad_token, vocab.unk_token, *tokens])
        return vocab

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.get_config() == other.get_config()
