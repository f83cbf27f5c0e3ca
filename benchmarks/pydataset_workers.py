"""Does a PyDataset with workers keep the training step busy? Step time of ``fit`` on a
784-256-256-10 MLP fed from in-memory arrays, a generator of slices, and a PyDataset whose
batches cost ``--load-ms`` to produce (a sleep: I/O or decoding that releases the GIL), with
``workers`` = 1, 2, 4. With enough workers the PyDataset step should approach the
``load 0`` step; with one worker it pays the load on every step.

    python benchmarks/pydataset_workers.py [--load-ms 5] [--reps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastff as keras
from fastff.utils import PyDataset

N, D, BS = 8192, 784, 128


class Batches(PyDataset):
    """Slices of in-memory arrays, each costing ``load_s`` first."""

    def __init__(self, x: np.ndarray, y: np.ndarray, load_s: float = 0.0, **kw) -> None:
        super().__init__(**kw)
        self.x, self.y, self.load_s = x, y, load_s

    def __len__(self) -> int:
        return len(self.x) // BS

    def __getitem__(self, i: int) -> tuple:
        if self.load_s:
            time.sleep(self.load_s)
        s = slice(i * BS, (i + 1) * BS)
        return self.x[s], self.y[s]


def _model() -> keras.Sequential:
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((D,)), keras.layers.Dense(256, activation="relu"),
                          keras.layers.Dense(256, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--load-ms", type=float, default=5.0)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    keras.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, 10, N)
    steps = N // BS
    load = args.load_ms / 1e3
    cases = {
        "arrays (shuffle=False)": lambda m: m.fit(x, y, batch_size=BS, shuffle=False,
                                                  verbose=0),
        "generator of slices": lambda m: m.fit(
            ((x[i * BS:(i + 1) * BS], y[i * BS:(i + 1) * BS]) for i in range(steps)),
            verbose=0),
        "PyDataset, load 0, workers=1": lambda m: m.fit(Batches(x, y), shuffle=False,
                                                        verbose=0),
    }
    for w in (1, 2, 4):
        cases[f"PyDataset, load {args.load_ms:g} ms, workers={w}"] = (
            lambda m, w=w: m.fit(Batches(x, y, load, workers=w), shuffle=False, verbose=0))
    best = {k: float("inf") for k in cases}
    for _ in range(args.reps):  # interleaved, best of reps: less noise on a shared machine
        for name, fn in cases.items():
            m = _model()
            t0 = time.perf_counter()
            fn(m)
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"{'input':40s} ms/step (best of {args.reps}, {steps} steps of {BS})")
    for name, s in best.items():
        print(f"{name:40s} {1e3 * s / steps:7.2f}")


if __name__ == "__main__":
    main()
