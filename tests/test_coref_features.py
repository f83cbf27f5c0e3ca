"""Mention-pair features on a hand-made document (fastff.data.coref_features)."""

from __future__ import annotations

import numpy as np

from fastff.data import Vocabulary
from fastff.data.conllu import Document, Mention, Sentence
from fastff.data.coref_features import (
    N_FEATS,
    PairFeaturizer,
    candidates,
    doc_mentions,
    head_lemma_baseline,
    head_lemma_baselines,
    lemma_index,
)


def _sentence(words: str, upos: str, deprels: str, feats: list[str]) -> Sentence:
    forms = words.split()
    return Sentence(ids=list(range(1, len(forms) + 1)), forms=forms,
                    lemmas=[w.lower() for w in forms], upos=upos.split(), xpos=["_"] * len(forms),
                    feats=feats, heads=[0] * len(forms), deprels=deprels.split(),
                    deps=["_"] * len(forms), misc=["_"] * len(forms))


def _doc() -> Document:
    s0 = _sentence("Mary saw the dog", "PROPN VERB DET NOUN", "nsubj root det obj",
                   ["Number=Sing", "_", "_", "Number=Sing"])
    s1 = _sentence("She liked the dog", "PRON VERB DET NOUN", "nsubj root det obj",
                   ["Gender=Fem|Number=Sing", "_", "_", "Number=Sing"])
    m = [Mention(None, 0, 0, 0, "1", {"minspan": "1"}, 1),
         Mention(None, 0, 2, 3, "2", {"minspan": "2"}, 1),
         Mention(None, 1, 0, 0, "1", {"minspan": "1"}, 2),
         Mention(None, 1, 2, 3, "2", {"minspan": "2"}, 2)]
    return Document("d", [s0, s1], {}, m)


def test_mentions_candidates_and_baseline():
    ms = doc_mentions(_doc())
    assert [(m.sent, m.start, m.head, m.mtype, m.role) for m in ms] == [
        (0, 0, "mary", 1, 0), (0, 2, "dog", 2, 1), (1, 0, "she", 0, 0), (1, 2, "dog", 2, 1)]
    assert ms[2].left == [] and ms[1].left == ["mary", "saw"]
    assert candidates(ms, 3, 1) == [2, 1]  # the previous mention + the same-lemma one
    assert candidates(ms, 3, 5, lemma_index(ms)) == [2, 1, 0]
    assert [head_lemma_baseline(ms, i) for i in range(1, 4)] == [0, 1, 1]
    assert head_lemma_baselines(ms).tolist() == [-1, 0, 1, 1]


def test_pair_features():
    ms = doc_mentions(_doc())
    vocab = Vocabulary([m.words for m in ms])
    f = PairFeaturizer(vocab, max_words=4, context=2)
    x = f.pairs(f.mention_arrays(ms), np.array([3, 3, 2]), np.array([1, 2, 0]))
    assert x["words"].shape == (3, 6) and x["m_words"].shape == (3, 4)
    assert x["ctx_m"].shape == (3, 4) and x["feats"].shape == (3, N_FEATS)
    np.testing.assert_array_equal(x["dist"], [[1, 1], [0, 0], [1, 1]])
    feats = x["feats"]
    assert feats[0, 6] == 1 and feats[0, 7] == 1 and feats[0, 17] == 1  # "the dog" again
    assert feats[1, 6] == 0 and feats[1, 18] == 1  # previous mention, no match
    assert feats[2, 0] == 1 and feats[2, 4] == 1  # pronoun anaphor, proper-name candidate
    assert feats[2, 11] == 1  # Number agrees
    np.testing.assert_array_equal(x["words"][0, :3], x["words"][0, 3:])
