"""Mention-pair features for coreference over gold mentions (the lecture's feature groups).

For an anaphor ``m`` and an earlier candidate antecedent ``a`` of the same document:

- ``words``: ids of the head, first and last word of ``m`` and of ``a`` (6 columns, one table);
- ``m_words`` / ``a_words``: the mention's words and ``ctx_m`` / ``ctx_a``: the ``context``
  words on each side of it, as padded id matrices to average (``EmbeddingBag``);
- ``dist``: sentence distance and mention distance (raw counts; bucketize in the model);
- ``feats``: mention type of both (pronoun / proper name / nominal, one-hot), exact string
  match, head-lemma match, head-form match, word overlap, nesting, number / gender / person
  agreement and clash of the heads (from UD FEATS), "the candidate is the nearest same-lemma
  mention" and "the candidate is the previous mention", and the grammatical role of both
  heads (subject / object / oblique / nominal modifier / root / other), as 0/1 floats.

Mentions are ordered by (sentence, start, longest first); "earlier" means earlier in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fastff.data.conllu import Document, parse_feats, syntactic_head
from fastff.data.sequences import pad_sequences
from fastff.data.vocab import Vocabulary

__all__ = ["MentionInfo", "doc_mentions", "candidates", "lemma_index", "PairFeaturizer",
           "N_FEATS", "head_lemma_baseline", "head_lemma_baselines"]

PRONOUN, PROPER, NOMINAL = 0, 1, 2
_AGREE = ("Number", "Gender", "Person")
# grammatical role of the head (salience): subject, object, oblique, nominal modifier, root, other
_ROLES = {"nsubj": 0, "nsubj:pass": 0, "csubj": 0, "obj": 1, "iobj": 1, "obl": 2,
          "nmod": 3, "nmod:poss": 3, "root": 4}
N_ROLES = 6
N_FEATS = 6 + 5 + 2 * len(_AGREE) + 2 + 2 * N_ROLES
UNK = 1  # Vocabulary's UNK id: ids above it are real words


@dataclass
class MentionInfo:
    """What the features need about one mention (precomputed once per document)."""

    index: int
    sent: int
    start: int
    end: int
    eid: str
    words: list[str]  # lower-cased forms
    head: str  # lower-cased head form
    lemma: str  # lower-cased head lemma
    mtype: int
    role: int
    morph: dict[str, str]
    left: list[str]  # context before (lower-cased)
    right: list[str]  # context after


def _mention_type(upos: str) -> int:
    return PRONOUN if upos in ("PRON", "DET") else PROPER if upos == "PROPN" else NOMINAL


def doc_mentions(doc: Document, context: int = 3) -> list[MentionInfo]:
    """The document's mentions in order, with heads, types and context words."""
    out = []
    ordered = sorted(doc.mentions, key=lambda m: (m.sent, m.start, -m.end))
    lowered: dict[int, list[str]] = {}
    for i, m in enumerate(ordered):
        s = doc.sentences[m.sent]
        heads = [h for h in m.heads if m.start <= h <= m.end]
        h = heads[0] if heads else syntactic_head(s, m.start, m.end)
        low = lowered.get(m.sent)
        if low is None:
            low = lowered[m.sent] = [w.lower() for w in s.forms]
        out.append(MentionInfo(
            index=i, sent=m.sent, start=m.start, end=m.end, eid=m.eid,
            words=low[m.start:m.end + 1], head=low[h], lemma=s.lemmas[h].lower(),
            mtype=_mention_type(s.upos[h]), role=_ROLES.get(s.deprels[h], N_ROLES - 1),
            morph=parse_feats(s.feats[h]),
            left=low[max(0, m.start - context):m.start], right=low[m.end + 1:m.end + 1 + context]))
    return out


def lemma_index(ms: Sequence[MentionInfo]) -> dict[str, list[int]]:
    """Head lemma -> indices of the mentions with it, in order."""
    out: dict[str, list[int]] = {}
    for m in ms:
        out.setdefault(m.lemma, []).append(m.index)
    return out


def candidates(ms: Sequence[MentionInfo], i: int, max_back: int,
               by_lemma: dict[str, list[int]] | None = None) -> list[int]:
    """Indices of the candidate antecedents of mention ``i``: the ``max_back`` previous
    mentions plus every earlier one with the same head lemma (nearest first). Pass
    ``lemma_index(ms)`` as ``by_lemma`` when calling for many mentions of one document."""
    near = list(range(i - 1, max(-1, i - 1 - max_back), -1))
    same = (by_lemma or lemma_index(ms))[ms[i].lemma]
    far = [j for j in reversed(same) if j < i - max_back]
    return near + far


def head_lemma_baselines(ms: Sequence[MentionInfo]) -> np.ndarray:
    """For every mention: the most recent earlier mention with the same head lemma, else the
    most recent one (-1 for the first mention)."""
    last: dict[str, int] = {}
    out = np.empty(len(ms), dtype=np.int64)
    for i, m in enumerate(ms):
        out[i] = last.get(m.lemma, i - 1)
        last[m.lemma] = i
    return out


def head_lemma_baseline(ms: Sequence[MentionInfo], i: int) -> int:
    """The baseline's antecedent of mention ``i`` (see ``head_lemma_baselines``)."""
    for j in range(i - 1, -1, -1):
        if ms[j].lemma == ms[i].lemma:
            return j
    return i - 1


class PairFeaturizer:
    """Turns (anaphor, candidate) pairs into the model's input arrays.

    Per-mention arrays are computed once per document (``mention_arrays``); the pair arrays
    are then built with NumPy indexing, not per pair in Python.
    """

    def __init__(self, vocab: Vocabulary, max_words: int = 8, context: int = 3) -> None:
        self.vocab = vocab
        self.max_words = max_words
        self.context = context  # must match doc_mentions(context=...)

    def mention_arrays(self, ms: Sequence[MentionInfo]) -> dict[str, np.ndarray]:
        """Per-mention ids and codes for the pair features of one document."""
        lookup, codes = self.vocab.lookup, {}

        def code(value: object) -> int:
            return codes.setdefault(value, len(codes) + 1)

        enc = self.vocab.encode
        return {
            "hfl": np.array([[lookup(m.head), lookup(m.words[0]), lookup(m.words[-1])]
                             for m in ms], dtype=np.int32).reshape(-1, 3),
            "words": pad_sequences([enc(m.words[: self.max_words]) for m in ms],
                                   maxlen=self.max_words, dtype="int32"),
            "ctx": pad_sequences([enc(m.left + m.right) for m in ms], maxlen=2 * self.context,
                                 dtype="int32"),
            "sent": np.array([m.sent for m in ms], dtype=np.int64),
            "start": np.array([m.start for m in ms], dtype=np.int64),
            "end": np.array([m.end for m in ms], dtype=np.int64),
            "mtype": np.array([m.mtype for m in ms], dtype=np.int64),
            "role": np.array([m.role for m in ms], dtype=np.int64),
            "string": np.array([code(tuple(m.words)) for m in ms], dtype=np.int64),
            "lemma": np.array([code(("lemma", m.lemma)) for m in ms], dtype=np.int64),
            "head": np.array([code(("head", m.head)) for m in ms], dtype=np.int64),
            "morph": np.array([[code((k, m.morph[k])) if k in m.morph else 0 for k in _AGREE]
                               for m in ms], dtype=np.int64).reshape(-1, len(_AGREE)),
            "baseline": head_lemma_baselines(ms),
        }

    def pairs(self, arrays: dict[str, np.ndarray], i: np.ndarray, j: np.ndarray) -> dict:
        """Input arrays for the pairs (anaphor ``i[r]``, candidate ``j[r]``)."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        A = arrays
        n = i.size
        feats = np.zeros((n, N_FEATS), dtype=np.float32)
        rows = np.arange(n)
        feats[rows, A["mtype"][i]] = 1
        feats[rows, 3 + A["mtype"][j]] = 1
        feats[:, 6] = A["string"][i] == A["string"][j]
        feats[:, 7] = A["lemma"][i] == A["lemma"][j]
        feats[:, 8] = A["head"][i] == A["head"][j]
        wi, wj = A["words"][i], A["words"][j]
        shared = (wi[:, :, None] == wj[:, None, :]) & (wi[:, :, None] > UNK)
        feats[:, 9] = shared.any(axis=(1, 2))
        feats[:, 10] = (A["sent"][i] == A["sent"][j]) & (A["start"][j] <= A["start"][i]) & \
            (A["end"][i] <= A["end"][j])
        mi, mj = A["morph"][i], A["morph"][j]
        feats[:, 11:11 + len(_AGREE)] = (mi > 0) & (mi == mj)
        feats[:, 11 + len(_AGREE):17] = (mi > 0) & (mj > 0) & (mi != mj)
        feats[:, 17] = A["baseline"][i] == j
        feats[:, 18] = j == i - 1
        feats[rows, 19 + A["role"][i]] = 1
        feats[rows, 19 + N_ROLES + A["role"][j]] = 1
        dist = np.stack([A["sent"][i] - A["sent"][j], i - j - 1], axis=1).astype(np.float32)
        return {"words": np.concatenate([A["hfl"][i], A["hfl"][j]], axis=1),
                "m_words": wi, "a_words": wj, "ctx_m": A["ctx"][i], "ctx_a": A["ctx"][j],
                "dist": dist, "feats": feats}
