"""Mention-pair coreference scorer over the gold mentions of UD English-GUM.

A feedforward network scores (anaphor, candidate antecedent) pairs from the lecture's feature
groups (``fastff.data.coref_features``): embeddings of the head / first / last words of both
mentions (one ``WindowEmbedding`` over six ids), averaged embeddings of each mention's words and
of its context (four ``EmbeddingBag``s), mention types, sentence and mention distances bucketed
as ``0,1,2,3,4,5-7,8-15,16-31,32-63,64+`` (``Bucketize`` one-hot inside the model) and
string-match / agreement features -- eight inputs joined by ``Concatenate`` in a functional
``Model``, trained with a sigmoid on coreferent vs not.

Evaluation on test: for every anaphoric mention (one with an earlier mention of its entity),
is the highest-scoring earlier candidate truly coreferent? Beside it, the baseline "most recent
earlier mention with the same head lemma, else the most recent mention". Candidates are the
``--max-back`` previous mentions plus every earlier one with the same head lemma.

The epoch is chosen on GUM dev: after each epoch the dev antecedent accuracy is scored
(``val_antecedent_accuracy``) and ``EarlyStopping(restore_best_weights=True)`` keeps the best
epoch, stopping after ``--patience`` epochs without improvement (``--epochs`` at most).

    python examples/coref_mention_pair.py --data ../shared/data [--epochs 5] [--patience 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import fastff
from fastff.data import DISTANCE_BOUNDARIES, Vocabulary, load_gum
from fastff.data.coref_features import (
    N_FEATS,
    PairFeaturizer,
    candidates,
    doc_mentions,
    head_lemma_baselines,
    lemma_index,
)
from fastff.layers import Bucketize, Concatenate, Dense, EmbeddingBag, WindowEmbedding

EMB = 48


def training_pairs(docs_ms: list, max_back: int, negatives: int, rng: np.random.Generator):
    """Per document: (pairs, labels) with every coreferent candidate of each anaphor and up
    to ``negatives`` sampled non-coreferent ones."""
    out = []
    for ms in docs_ms:
        pairs, labels = [], []
        seen: set[str] = set()
        by_lemma = lemma_index(ms)
        for i, m in enumerate(ms):
            if m.eid in seen:
                cands = candidates(ms, i, max_back, by_lemma)
                pos = [j for j in cands if ms[j].eid == m.eid]
                neg = [j for j in cands if ms[j].eid != m.eid]
                if len(neg) > negatives:
                    neg = list(rng.choice(neg, negatives, replace=False))
                pairs += [(i, j) for j in pos] + [(i, int(j)) for j in neg]
                labels += [1] * len(pos) + [0] * len(neg)
            seen.add(m.eid)
        out.append((pairs, labels))
    return out


def stack(featurizer: PairFeaturizer, docs_ms: list, doc_pairs: list) -> tuple[dict, np.ndarray]:
    parts = [featurizer.pairs(featurizer.mention_arrays(ms), *np.array(pairs).T)
             for ms, (pairs, _) in zip(docs_ms, doc_pairs) if pairs]
    x = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    y = np.concatenate([np.asarray(lab, dtype=np.float32) for _, lab in doc_pairs if lab])
    return x, y


def build_model(vocab_size: int, featurizer: PairFeaturizer) -> fastff.Model:
    ins = {
        "words": fastff.Input((6,), dtype="int32", name="words"),
        "m_words": fastff.Input((featurizer.max_words,), dtype="int32", name="m_words"),
        "a_words": fastff.Input((featurizer.max_words,), dtype="int32", name="a_words"),
        "ctx_m": fastff.Input((2 * featurizer.context,), dtype="int32", name="ctx_m"),
        "ctx_a": fastff.Input((2 * featurizer.context,), dtype="int32", name="ctx_a"),
        "dist": fastff.Input((2,), name="dist"),
        "feats": fastff.Input((N_FEATS,), name="feats"),
    }
    parts = [WindowEmbedding(vocab_size, EMB, name="head_first_last")(ins["words"])]
    for k in ("m_words", "a_words", "ctx_m", "ctx_a"):
        parts.append(EmbeddingBag(vocab_size, EMB // 2, padding_id=0, name=f"avg_{k}")(ins[k]))
    parts.append(Bucketize(DISTANCE_BOUNDARIES, output_mode="one_hot")(ins["dist"]))
    parts.append(ins["feats"])
    h = Concatenate()(parts[:-1] + [Dense(16, activation="relu", name="feat_proj")(parts[-1])])
    h = Dense(128, activation="relu")(h)
    h = Dense(64, activation="relu")(h)
    out = Dense(1, activation="sigmoid", name="score")(h)
    model = fastff.Model(list(ins.values()), out, name="mention_pair")
    model.compile(optimizer=fastff.optimizers.Adam(learning_rate=1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def evaluate(model: fastff.Model, featurizer: PairFeaturizer, docs_ms: list,
             max_back: int) -> dict:
    """Antecedent accuracy of the model and of the head-lemma baseline on anaphoric mentions."""
    right = base = total = 0
    n_pairs = 0
    t0 = time.perf_counter()
    for ms in docs_ms:
        seen: set[str] = set()
        queries, pairs = [], []
        by_lemma, baseline = lemma_index(ms), head_lemma_baselines(ms)
        for i, m in enumerate(ms):
            if m.eid in seen:
                cands = candidates(ms, i, max_back, by_lemma)
                queries.append((i, len(pairs), len(pairs) + len(cands)))
                pairs += [(i, j) for j in cands]
                base += ms[baseline[i]].eid == m.eid
            seen.add(m.eid)
        if not pairs:
            continue
        x = featurizer.pairs(featurizer.mention_arrays(ms), *np.array(pairs).T)
        scores = model.predict(x, batch_size=4096, verbose=0)[:, 0]
        n_pairs += len(pairs)
        for i, s, e in queries:
            best = pairs[s + int(np.argmax(scores[s:e]))][1]
            right += ms[best].eid == ms[i].eid
            total += 1
    return {"accuracy": right / total, "baseline": base / total, "anaphors": total,
            "pairs": n_pairs, "seconds": time.perf_counter() - t0}


class DevAntecedentAccuracy(fastff.callbacks.Callback):
    """Scores dev antecedent accuracy after every epoch into ``logs`` (for EarlyStopping)."""

    def __init__(self, featurizer: PairFeaturizer, dev_ms: list, max_back: int) -> None:
        super().__init__()
        self.featurizer, self.dev_ms, self.max_back = featurizer, dev_ms, max_back
        self.curve: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        acc = evaluate(self.model, self.featurizer, self.dev_ms, self.max_back)["accuracy"]
        self.curve.append(float(acc))
        if logs is not None:
            logs["val_antecedent_accuracy"] = float(acc)


def run(data: str | None, epochs: int = 5, seed: int = 0, verbose: int = 1, out: str | None = None,
        max_back: int = 50, negatives: int = 25, max_train_docs: int | None = None,
        patience: int = 1, max_dev_docs: int | None = None,
        max_test_docs: int | None = None) -> dict:
    """Train (best dev epoch of at most ``epochs``), score test against the baseline, save and
    reload."""
    rng = np.random.default_rng(seed)
    train_docs = load_gum("train", data)[:max_train_docs]
    dev_docs = load_gum("dev", data)[:max_dev_docs]
    test_docs = load_gum("test", data)[:max_test_docs]
    train_ms = [doc_mentions(d) for d in train_docs]
    dev_ms = [doc_mentions(d) for d in dev_docs]
    test_ms = [doc_mentions(d) for d in test_docs]
    vocab = Vocabulary((w for ms in train_ms for m in ms for w in m.words + m.left + m.right),
                       min_count=2)
    featurizer = PairFeaturizer(vocab)
    t0 = time.perf_counter()
    x, y = stack(featurizer, train_ms, training_pairs(train_ms, max_back, negatives, rng))
    feat_s = time.perf_counter() - t0

    fastff.utils.set_random_seed(seed)
    model = build_model(len(vocab), featurizer)
    if verbose:
        model.summary()
    dev_score = DevAntecedentAccuracy(featurizer, dev_ms, max_back)
    stop = fastff.callbacks.EarlyStopping(monitor="val_antecedent_accuracy", mode="max",
                                          patience=patience, restore_best_weights=True)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=verbose, callbacks=[dev_score, stop])
    train_s = time.perf_counter() - t0
    scores = evaluate(model, featurizer, test_ms, max_back)
    dev_acc = evaluate(model, featurizer, dev_ms, max_back)["accuracy"]  # the kept epoch's

    out = out or "coref_mention_pair.fastff"
    model.save(out)
    Path(out + ".vocab.json").write_text(json.dumps(vocab.get_config()))
    reloaded = fastff.models.load_model(out)
    probe = featurizer.pairs(featurizer.mention_arrays(test_ms[0]),
                             *np.array([(i, j) for i in range(1, 40) for j in range(i)]).T)
    same = bool(np.array_equal(model.predict(probe, verbose=0),
                               reloaded.predict(probe, verbose=0)))
    return {"test_accuracy": scores["accuracy"], "baseline_accuracy": scores["baseline"],
            "anaphors": scores["anaphors"], "test_pairs": scores["pairs"],
            "predict_seconds": scores["seconds"], "train_pairs": int(len(y)),
            "featurize_seconds": feat_s, "train_seconds": train_s,
            "epochs": len(dev_score.curve), "dev_curve": dev_score.curve,
            "dev_accuracy": dev_acc,
            "best_epoch": int(np.argmax(dev_score.curve)) + 1, "seed": seed,
            "reload_identical": same, "model_path": out}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="data directory (default: $FASTFF_DATA, else ../shared/data; "
                             "see fastff.data.data_root)")
    parser.add_argument("--epochs", type=int, default=5, help="the most epochs to run")
    parser.add_argument("--patience", type=int, default=1,
                        help="stop after this many epochs without a better dev accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--max-back", type=int, default=50,
                        help="previous mentions considered as candidates")
    parser.add_argument("--max-train-docs", type=int, default=None)
    parser.add_argument("--out", default="coref_mention_pair.fastff",
                        help="where to save the model")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: fastff's setting)")
    args = parser.parse_args(argv)
    if args.threads:
        fastff.set_num_threads(args.threads)
    r = run(args.data, args.epochs, args.seed, args.verbose, args.out, args.max_back,
            max_train_docs=args.max_train_docs, patience=args.patience)
    print(f"train: {r['train_seconds']:.2f} s for {r['epochs']} epochs over "
          f"{r['train_pairs']} pairs (featurizing {r['featurize_seconds']:.2f} s); best dev "
          f"epoch {r['best_epoch']} (seed {r['seed']})")
    print(f"test antecedent accuracy over {r['anaphors']} anaphoric mentions: model "
          f"{r['test_accuracy']:.4f}  vs  head-lemma baseline {r['baseline_accuracy']:.4f} "
          f"({r['test_pairs']} pairs scored in {r['predict_seconds']:.2f} s)")
    print(f"saved to {r['model_path']}; reloaded predictions identical: "
          f"{r['reload_identical']}")
    return r


if __name__ == "__main__":
    main()
