"""Window-based feedforward POS tagger on UD English-EWT, or any UD treebank (UPOS tags).

Each token is tagged from a window of +-2 tokens over three id feature groups -- lower-cased
word, 3-letter suffix, word shape -- each a ``WindowEmbedding`` (one gather that concatenates
the window's vectors), joined by ``Concatenate`` in a functional ``Model``, then a ReLU layer
and a softmax. Words seen once in train map to UNK, so the model learns an UNK vector; the
suffix and shape groups carry unknown words. Reports test token accuracy and tagging speed
(whole test set as one batch job, and one sentence at a time), saves and reloads the model.
The epoch is chosen on the dev set: training stops when dev accuracy has not improved for
``--patience`` epochs and keeps the best epoch's weights (``EarlyStopping`` with
``restore_best_weights``); ``--epochs`` is the most it runs.

    python examples/pos_tagger.py --data ../shared/data [--epochs 10] [--patience 2]
    python examples/pos_tagger.py --treebank path/to/UD_French-GSD   # any UD treebank folder

``--treebank`` finds train/dev/test by UD's file names (``*-ud-train.conllu``, plain or gzipped).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import fastff
from fastff.data import Vocabulary, load_treebank, load_ud_ewt, suffix, windows, word_shape
from fastff.layers import Concatenate, Dense, WindowEmbedding

WINDOW = 2
UPOS = frozenset(("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
                  "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"))
GROUPS = {"word": (lambda w: w.lower(), 64, 2), "suffix": (suffix, 32, 1),
          "shape": (word_shape, 16, 1)}  # name -> (feature, embedding width, min count)


class Featurizer:
    """Vocabularies of the three feature groups and the tag set (fitted on train)."""

    def __init__(self, sentences: list) -> None:
        self.vocabs = {name: Vocabulary(([f(w) for w in s.forms] for s in sentences),
                                        min_count=mc)
                       for name, (f, _, mc) in GROUPS.items()}
        # UD's 17 UPOS tags, so a tag a small train set lacks can still be scored
        self.tags = sorted(UPOS | {t for s in sentences for t in s.upos})

    def inputs(self, sentences: list) -> dict[str, np.ndarray]:
        """``{group: (n_tokens, 2*WINDOW+1) int32 ids}`` for every token of ``sentences``."""
        out = {}
        for name, (f, _, _) in GROUPS.items():
            vocab = self.vocabs[name]
            ids = [vocab.encode([f(w) for w in s.forms]) for s in sentences]
            out[name] = windows(ids, WINDOW, pad_id=vocab.pad_id)
        return out

    def labels(self, sentences: list) -> np.ndarray:
        index = {t: i for i, t in enumerate(self.tags)}
        try:
            return np.array([index[t] for s in sentences for t in s.upos], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"tag {e.args[0]!r} is neither a UD UPOS tag nor in the training "
                             "set") from None

    def to_json(self) -> str:
        return json.dumps({"vocabs": {k: v.get_config() for k, v in self.vocabs.items()},
                           "tags": self.tags})


def build_model(feat: Featurizer, hidden: int = 256, learning_rate: float = 1e-3) -> fastff.Model:
    width = 2 * WINDOW + 1
    inputs, branches = [], []
    for name, (_, dim, _) in GROUPS.items():
        inp = fastff.Input(shape=(width,), dtype="int32", name=name)
        inputs.append(inp)
        branches.append(WindowEmbedding(len(feat.vocabs[name]), dim, name=f"{name}_emb")(inp))
    h = Concatenate()(branches)
    h = Dense(hidden, activation="relu")(h)
    out = Dense(len(feat.tags), activation="softmax")(h)
    model = fastff.Model(inputs, out, name="pos_tagger")
    model.compile(optimizer=fastff.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tagging_speed(model: fastff.Model, feat: Featurizer, sentences: list) -> dict:
    """Tokens/s for one batch job over all sentences and for one sentence per call."""
    n_tok = sum(len(s) for s in sentences)
    t0 = time.perf_counter()
    model.predict(feat.inputs(sentences), batch_size=1024, verbose=0).argmax(axis=1)
    batch_s = time.perf_counter() - t0
    per_sentence = [feat.inputs([s]) for s in sentences[:300]]
    n_one = sum(len(s) for s in sentences[:300])
    t0 = time.perf_counter()
    for x in per_sentence:
        model.predict_on_batch(x).argmax(axis=1)
    one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in sentences[:300]:  # featurizing included: what a user tagging text pays
        model.predict_on_batch(feat.inputs([s])).argmax(axis=1)
    one_feat_s = time.perf_counter() - t0
    return {"batch_tokens_per_s": n_tok / batch_s, "batch_seconds": batch_s,
            "one_sentence_tokens_per_s": n_one / one_s,
            "one_sentence_with_features_tokens_per_s": n_one / one_feat_s}


def run(data: str | None, epochs: int = 10, seed: int = 0, verbose: int = 1, out: str | None = None,
        max_train: int | None = None, batch_size: int = 64, learning_rate: float = 1e-3,
        treebank: str | None = None, patience: int = 2) -> dict:
    """Train (best dev epoch of at most ``epochs``), score dev and test, time tagging, save and
    reload; ``treebank``: a UD treebank folder instead of EWT from the data directory."""
    if treebank is not None:
        def load(split: str) -> list:
            return load_treebank(treebank, split)
    else:
        def load(split: str) -> list:
            return load_ud_ewt(split, data)
    train = load("train")[:max_train]
    dev, test = load("dev"), load("test")
    feat = Featurizer(train)
    x = {k: feat.inputs(s) for k, s in (("train", train), ("dev", dev), ("test", test))}
    y = {k: feat.labels(s) for k, s in (("train", train), ("dev", dev), ("test", test))}

    fastff.utils.set_random_seed(seed)
    model = build_model(feat, learning_rate=learning_rate)
    if verbose:
        model.summary()
    stop = fastff.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience,
                                          restore_best_weights=True)
    t0 = time.perf_counter()
    hist = model.fit(x["train"], y["train"], batch_size=batch_size, epochs=epochs,
                     verbose=verbose, validation_data=(x["dev"], y["dev"]), callbacks=[stop])
    train_s = time.perf_counter() - t0
    dev_curve = [float(a) for a in hist.history["val_accuracy"]]
    acc = {k: float(model.evaluate(x[k], y[k], batch_size=1024, verbose=0)[1])
           for k in ("dev", "test")}
    speed = tagging_speed(model, feat, test)

    out = out or "pos_tagger.fastff"
    model.save(out)
    Path(out + ".features.json").write_text(feat.to_json())
    reloaded = fastff.models.load_model(out)
    same = bool(np.array_equal(model.predict(x["test"], batch_size=1024, verbose=0),
                               reloaded.predict(x["test"], batch_size=1024, verbose=0)))
    return {"dev_accuracy": acc["dev"], "test_accuracy": acc["test"], "train_seconds": train_s,
            "train_tokens": int(len(y["train"])), "epochs": len(dev_curve),
            "best_epoch": int(np.argmax(dev_curve)) + 1, "dev_curve": dev_curve,
            "seed": seed, **speed, "reload_identical": same, "model_path": out}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="data directory (default: $FASTFF_DATA, else ../shared/data; "
                             "see fastff.data.data_root)")
    parser.add_argument("--treebank", default=None,
                        help="a Universal Dependencies treebank folder (instead of EWT from "
                             "--data); train/dev/test found by UD's file names")
    parser.add_argument("--epochs", type=int, default=10, help="the most epochs to run")
    parser.add_argument("--patience", type=int, default=2,
                        help="stop after this many epochs without a better dev accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--max-train", type=int, default=None,
                        help="train on the first N sentences only")
    parser.add_argument("--out", default="pos_tagger.fastff", help="where to save the model")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: fastff's setting)")
    args = parser.parse_args(argv)
    if args.threads:
        fastff.set_num_threads(args.threads)
    r = run(args.data, args.epochs, args.seed, args.verbose, args.out, args.max_train,
            treebank=args.treebank, patience=args.patience)
    print(f"train: {r['train_seconds']:.2f} s for {r['epochs']} epochs over "
          f"{r['train_tokens']} tokens; best dev epoch {r['best_epoch']} (seed {r['seed']})")
    print(f"token accuracy: dev {r['dev_accuracy']:.4f}  test {r['test_accuracy']:.4f}")
    print(f"tagging speed: batch {r['batch_tokens_per_s']:,.0f} tokens/s; one sentence at a "
          f"time {r['one_sentence_tokens_per_s']:,.0f} tokens/s "
          f"({r['one_sentence_with_features_tokens_per_s']:,.0f} with featurizing)")
    print(f"saved to {r['model_path']}; reloaded predictions identical: "
          f"{r['reload_identical']}")
    return r


if __name__ == "__main__":
    main()
