"""Deep Averaging Network (Iyyer et al. 2015) on SST-2 with 50-d GloVe vectors.

Averaged word embeddings (``EmbeddingBag``, initialised from GloVe and fine-tuned with lazy
row-sparse Adam) -> ReLU hidden layer -> softmax. Train on ``sst2_durrett`` train (6,920),
report dev (872) and the labelled test (1,821), save the model and its vocabulary, reload and
check the predictions are identical:

    python examples/sentiment_dan.py --data ../shared/data [--epochs 5] [--out sentiment_dan.fastff]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import fastff
from fastff.data import Vocabulary, data_file, embedding_matrix, load_glove, load_sst2
from fastff.layers import Dense, Dropout, EmbeddingBag

GLOVE = "glove_relativized/glove.6B.50d-relativized.txt.gz"


def encode(vocab: Vocabulary, sentences: list, maxlen: int) -> np.ndarray:
    """Padded ``(n, maxlen)`` id matrix (PAD = 0, unknown words = UNK)."""
    return fastff.data.pad_sequences(vocab.encode_all(sentences), maxlen=maxlen, dtype="int32")


def build_model(vectors: np.ndarray, maxlen: int, hidden: int = 100) -> fastff.Sequential:
    model = fastff.Sequential([
        EmbeddingBag(vectors.shape[0], vectors.shape[1], mode="mean", padding_id=0,
                     weights=vectors, input_shape=(maxlen,)),
        Dense(hidden, activation="relu"),
        Dropout(0.3, seed=1),
        Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=fastff.optimizers.Adam(learning_rate=2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(data: str | None, epochs: int = 5, seed: int = 0, verbose: int = 1,
        out: str | None = None) -> dict:
    """Train, score dev and test, save + reload; returns scores and timings."""
    splits = load_sst2(data, lowercase=True)
    words, vecs = load_glove(data_file(GLOVE, data))
    vocab = Vocabulary(words)  # GloVe's words: every other token is UNK
    vectors, coverage = embedding_matrix(vocab, words, vecs, rng=seed)
    maxlen = max(len(s) for split in splits.values() for s in split[0])
    x = {k: encode(vocab, s, maxlen) for k, (s, _) in splits.items()}
    y = {k: np.asarray(lab) for k, (_, lab) in splits.items()}

    fastff.utils.set_random_seed(seed)
    model = build_model(vectors, maxlen)
    if verbose:
        model.summary()
    t0 = time.perf_counter()
    model.fit(x["train"], y["train"], batch_size=32, epochs=epochs, verbose=verbose,
              validation_data=(x["dev"], y["dev"]))
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = {k: float(model.evaluate(x[k], y[k], batch_size=256, verbose=0)[1])
              for k in ("train", "dev", "test")}
    eval_s = time.perf_counter() - t0

    if out is None:
        out = "sentiment_dan.fastff"
    model.save(out)
    Path(out + ".vocab.json").write_text(json.dumps(vocab.get_config()))
    reloaded = fastff.models.load_model(out)
    same = bool(np.array_equal(model.predict(x["test"], batch_size=256, verbose=0),
                               reloaded.predict(x["test"], batch_size=256, verbose=0)))
    return {"train_accuracy": scores["train"], "dev_accuracy": scores["dev"],
            "test_accuracy": scores["test"], "train_seconds": train_s,
            "eval_seconds": eval_s, "glove_coverage": str(coverage), "epochs": epochs,
            "reload_identical": same, "model_path": out}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="data directory (default: $FASTFF_DATA, else ../shared/data; "
                             "see fastff.data.data_root)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--out", default="sentiment_dan.fastff", help="where to save the model")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: fastff's setting)")
    args = parser.parse_args(argv)
    if args.threads:
        fastff.set_num_threads(args.threads)
    r = run(args.data, args.epochs, args.seed, args.verbose, args.out)
    print(f"GloVe coverage: {r['glove_coverage']}")
    print(f"train: {r['train_seconds']:.2f} s for {r['epochs']} epochs; "
          f"scoring train+dev+test: {r['eval_seconds']:.3f} s")
    print(f"accuracy: train {r['train_accuracy']:.4f}  dev {r['dev_accuracy']:.4f}  "
          f"test {r['test_accuracy']:.4f}")
    print(f"saved to {r['model_path']}; reloaded predictions identical: "
          f"{r['reload_identical']}")
    return r


if __name__ == "__main__":
    main()
