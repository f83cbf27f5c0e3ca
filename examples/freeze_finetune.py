"""Keras-style transfer learning: pretrain a digit classifier, take its trunk by
``get_layer``, freeze it, train a new head for even/odd, then unfreeze and fine-tune at a low
learning rate. Uses MNIST 5k under ``FASTFF_DATA`` when present, else synthetic digits.

    python examples/freeze_finetune.py
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import fastff as keras


def _digits():
    path = Path(__file__).with_name("two_output_digits.py")
    spec = importlib.util.spec_from_file_location("two_output_digits", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_digits


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    x, y, source = _digits()(args.rows, args.seed, args.data)
    odd = (y % 2).astype(np.float32)

    base = keras.Sequential([keras.Input(shape=(x.shape[1],)),
                             keras.layers.Dense(32, activation="relu", name="trunk"),
                             keras.layers.Dense(10, activation="softmax", name="digits")])
    base.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    base.fit(x, y, epochs=3, batch_size=64, verbose=0)

    trunk = base.get_layer("trunk")
    trunk.trainable = False
    inputs = keras.Input(shape=(x.shape[1],))
    head = keras.layers.Dense(1, activation="sigmoid", name="parity")
    model = keras.Model(inputs, head(trunk(inputs)))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    frozen = [w.copy() for w in trunk.get_weights()]
    head_before = [w.copy() for w in model.get_layer("parity").get_weights()] \
        if head.built else None
    model.fit(x, odd, epochs=3, batch_size=64, verbose=0)
    _, acc_before = model.evaluate(x, odd, verbose=0)
    frozen_unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, trunk.get_weights()))
    head_changed = head_before is None or any(
        not np.array_equal(a, b) for a, b in zip(head_before, head.get_weights()))

    trunk.trainable = True  # fine-tune everything, gently; recompile as Keras asks
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, odd, epochs=1, batch_size=64, verbose=0)
    _, acc_after = model.evaluate(x, odd, verbose=0)
    changed = any(not np.array_equal(a, b) for a, b in zip(frozen, trunk.get_weights()))
    print(f"{source}: parity accuracy frozen trunk {acc_before:.3f}, fine-tuned {acc_after:.3f}")
    return {"frozen_unchanged": frozen_unchanged, "head_changed": head_changed,
            "trunk_changed_after_unfreeze": changed, "accuracy_before": acc_before,
            "accuracy_after": acc_after, "source": source}


if __name__ == "__main__":
    main()
