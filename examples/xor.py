"""The lecture's XOR: a 2-8-1 network with a tanh hidden layer learns all four cases.

    python examples/xor.py
"""

from __future__ import annotations

import argparse

import numpy as np

import fastff as keras


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=4, epochs=args.epochs, verbose=0)
    p = model.predict(x, verbose=0).ravel()
    for xi, pi in zip(x, p):
        print(f"{int(xi[0])} xor {int(xi[1])} -> {pi:.3f}")
    acc = float(np.mean((p > 0.5) == (y > 0.5)))
    print(f"final loss {history.history['loss'][-1]:.4f}, correct {int(acc * 4)}/4")
    return acc


if __name__ == "__main__":
    main()
