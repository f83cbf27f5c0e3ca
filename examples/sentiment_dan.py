"""Deep Averaging Network (Iyyer et al. 2015) on SST-2 with 50-d GloVe vectors.

Averaged word embeddings (``EmbeddingBag``, initialised from GloVe and fine-tuned with lazy
row-sparse Adam) -> ReLU hidden layer -> softmax. Train on ``sst2_durrett`` train (6,920),
report dev (872) and the labelled test (1,821), save the model and its vocabulary, reload and
check the predictions are identical. Reports how much of the *training text* GloVe covers
(running tokens and distinct types).

``--style keras`` trains the same network written the Keras way: ``Embedding(mask_zero=True)``
-> ``GlobalAveragePooling1D`` (which averages only the unmasked steps) -> the same layers;
``--compare`` trains both from the same weights and seed and reports how far apart their
predictions are (they agree to float32 rounding):

    python examples/sentiment_dan.py --data ../shared/data [--epochs 5] [--style bag|keras]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import fastff
from fastff.data import (
    Vocabulary,
    data_file,
    embedding_matrix,
    load_glove,
    load_sst2,
    text_coverage,
)
from fastff.layers import Dense, Dropout, Embedding, EmbeddingBag, GlobalAveragePooling1D

GLOVE = "glove_relativized/glove.6B.50d-relativized.txt.gz"


def encode(vocab: Vocabulary, sentences: list, maxlen: int) -> np.ndarray:
    """Padded ``(n, maxlen)`` id matrix (PAD = 0, unknown words = UNK)."""
    return fastff.data.pad_sequences(vocab.encode_all(sentences), maxlen=maxlen, dtype="int32")


def build_model(vectors: np.ndarray, maxlen: int, hidden: int = 100,
                style: str = "bag") -> fastff.Sequential:
    """The DAN: ``style="bag"`` averages with one ``EmbeddingBag``; ``style="keras"`` with
    ``Embedding(mask_zero=True)`` -> ``GlobalAveragePooling1D`` (the same function)."""
    n, d = vectors.shape
    if style == "bag":
        average = [EmbeddingBag(n, d, mode="mean", padding_id=0, weights=vectors,
                                input_shape=(maxlen,))]
    elif style == "keras":
        average = [fastff.Input((maxlen,), dtype="int32"),
                   Embedding(n, d, mask_zero=True, weights=vectors),
                   GlobalAveragePooling1D()]
    else:
        raise ValueError(f"style must be 'bag' or 'keras', got {style!r}")
    model = fastff.Sequential([
        *average,
        Dense(hidden, activation="relu"),
        Dropout(0.3, seed=1),
        Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=fastff.optimizers.Adam(learning_rate=2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(data: str | None, epochs: int = 5, seed: int = 0, verbose: int = 1,
        out: str | None = None, style: str = "bag", compare: bool = False,
        max_train: int | None = None) -> dict:
    """Train, score dev and test, save + reload; returns scores and timings. ``compare``:
    also train the other style from the same weights and report the largest difference of
    their dev predictions before and after training."""
    splits = load_sst2(data, lowercase=True)
    if max_train is not None:  # a random subset (the file is not in random order)
        sents, labels = splits["train"]
        keep = np.sort(np.random.default_rng(seed).permutation(len(sents))[:max_train])
        splits["train"] = ([sents[i] for i in keep], np.asarray(labels)[keep])
    words, vecs = load_glove(data_file(GLOVE, data))
    vocab = Vocabulary(words)  # GloVe's words: every other token is UNK
    vectors, _ = embedding_matrix(vocab, words, vecs, rng=seed)
    coverage = text_coverage(splits["train"][0], words)  # of the training text itself
    maxlen = max(len(s) for split in splits.values() for s in split[0])
    x = {k: encode(vocab, s, maxlen) for k, (s, _) in splits.items()}
    y = {k: np.asarray(lab) for k, (_, lab) in splits.items()}

    def train(model: fastff.Sequential, verbose: int) -> float:
        fastff.utils.set_random_seed(seed)  # the same shuffling for every model
        t0 = time.perf_counter()
        model.fit(x["train"], y["train"], batch_size=32, epochs=epochs, verbose=verbose,
                  validation_data=(x["dev"], y["dev"]))
        return time.perf_counter() - t0

    fastff.utils.set_random_seed(seed)
    model = build_model(vectors, maxlen, style=style)
    other = None
    if compare:
        other = build_model(vectors, maxlen, style="keras" if style == "bag" else "bag")
        other.set_weights(model.get_weights())
        before = float(np.abs(model.predict(x["dev"], verbose=0)
                              - other.predict(x["dev"], verbose=0)).max())
    if verbose:
        model.summary()
    train_s = train(model, verbose)
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
    result = {"train_accuracy": scores["train"], "dev_accuracy": scores["dev"],
              "test_accuracy": scores["test"], "train_seconds": train_s,
              "eval_seconds": eval_s, "glove_coverage": str(coverage),
              "glove_token_coverage": coverage.token_fraction,
              "glove_type_coverage": coverage.type_fraction, "epochs": epochs, "style": style,
              "reload_identical": same, "model_path": out}
    if other is not None:
        train(other, 0)
        after = float(np.abs(model.predict(x["dev"], verbose=0)
                             - other.predict(x["dev"], verbose=0)).max())
        result.update(compare_max_diff_before=before, compare_max_diff_after=after,
                      compare_dev_accuracy=float(other.evaluate(x["dev"], y["dev"],
                                                                verbose=0)[1]))
    return result


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
    parser.add_argument("--style", choices=("bag", "keras"), default="bag",
                        help="EmbeddingBag, or Embedding(mask_zero=True) + "
                             "GlobalAveragePooling1D")
    parser.add_argument("--compare", action="store_true",
                        help="also train the other style from the same weights and compare")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: fastff's setting)")
    args = parser.parse_args(argv)
    if args.threads:
        fastff.set_num_threads(args.threads)
    r = run(args.data, args.epochs, args.seed, args.verbose, args.out, args.style,
            args.compare)
    print(f"GloVe coverage of the training text: {r['glove_coverage']}")
    if args.compare:
        print(f"{r['style']} vs the other style: dev predictions differ by at most "
              f"{r['compare_max_diff_before']:.2e} before and {r['compare_max_diff_after']:.2e} "
              f"after training (other style's dev accuracy {r['compare_dev_accuracy']:.4f})")
    print(f"train: {r['train_seconds']:.2f} s for {r['epochs']} epochs; "
          f"scoring train+dev+test: {r['eval_seconds']:.3f} s")
    print(f"accuracy: train {r['train_accuracy']:.4f}  dev {r['dev_accuracy']:.4f}  "
          f"test {r['test_accuracy']:.4f}")
    print(f"saved to {r['model_path']}; reloaded predictions identical: "
          f"{r['reload_identical']}")
    return r


if __name__ == "__main__":
    main()
