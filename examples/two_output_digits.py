"""A Keras-style two-output model: one trunk, a digit head and an even/odd head, trained with
a loss dict and ``loss_weights``. Uses the MNIST 5k subset under ``FASTFF_DATA`` (or
``--data``) when present, else synthetic 8x8 "digits" (a noisy template per class).

    python examples/two_output_digits.py --epochs 10
"""

from __future__ import annotations

import argparse

import numpy as np

import fastff as keras


def load_digits(rows: int, seed: int, data: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images in [0, 1], labels, source)``: MNIST rows if the data is there, else synthetic."""
    rng = np.random.default_rng(seed)
    try:
        from fastff.data.mnist import load_mnist_5k

        x, y = load_mnist_5k(data)
        idx = rng.permutation(len(x))[:rows]
        return x[idx].astype(np.float32) / 255.0, y[idx], "mnist_5k"
    except FileNotFoundError:
        templates = rng.random((10, 64)) > 0.5
        y = rng.integers(0, 10, rows)
        x = templates[y] ^ (rng.random((rows, 64)) < 0.1)
        return x.astype(np.float32), y, "synthetic"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    x, y, source = load_digits(args.rows, args.seed, args.data)
    parity = (y % 2).astype(np.float32)

    inputs = keras.Input(shape=(x.shape[1],), name="pixels")
    h = keras.layers.Dense(64, activation="relu", name="trunk")(inputs)
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(h)
    odd = keras.layers.Dense(1, activation="sigmoid", name="parity")(h)
    model = keras.Model(inputs, [digit, odd])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss={"digit": "sparse_categorical_crossentropy",
                        "parity": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "parity": 0.5},
                  metrics={"digit": ["accuracy"], "parity": ["accuracy"]})
    split = int(0.8 * len(x))
    history = model.fit(x[:split], {"digit": y[:split], "parity": parity[:split]},
                        epochs=args.epochs, batch_size=64, verbose=0)
    scores = model.evaluate(x[split:], {"digit": y[split:], "parity": parity[split:]},
                            verbose=0, return_dict=True)
    p_digit, p_odd = model.predict(x[split:], verbose=0)
    print(f"{source}: digit accuracy {scores['digit_accuracy']:.3f}, "
          f"parity accuracy {scores['parity_accuracy']:.3f}, loss {scores['loss']:.4f}")
    return {"history": history.history, "source": source, "shapes": (p_digit.shape,
            p_odd.shape), **scores}


if __name__ == "__main__":
    main()
