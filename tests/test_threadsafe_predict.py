"""``predict`` from many threads at once gives exactly the serial results.

Layers cache nothing between calls and the model keeps inference workspaces per thread, so
concurrent calls must never see each other's intermediate arrays.
"""

from __future__ import annotations

import threading

import numpy as np

import fastff
from fastff import config, layers


def test_eight_threads_predict_like_serial():
    config.set_seed(0)
    model = fastff.Sequential([
        layers.Input((20,)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.3),  # inactive in predict
        layers.Dense(32, activation="tanh"),
        layers.Dense(5, activation="softmax"),
    ])
    rng = np.random.default_rng(1)
    # the one-row fast path, a single batch, several batches with a ragged tail, same sizes
    # with different data (shared per-size workspaces would mix them up)
    inputs = [rng.standard_normal((n, 20)).astype(np.float32)
              for n in (1, 1, 7, 32, 32, 100, 257)]
    serial = [model.predict(x, verbose=0) for x in inputs]
    serial_call = [model(x) for x in inputs]

    n_threads, rounds = 8, 15
    barrier = threading.Barrier(n_threads)
    failures: list[str] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            order = np.random.default_rng(k).permutation(len(inputs) * rounds) % len(inputs)
            for i in order:
                got = model.predict(inputs[i], verbose=0) if k % 2 else model(inputs[i])
                expected = serial[i] if k % 2 else serial_call[i]
                if got.shape != expected.shape or not np.array_equal(got, expected):
                    failures.append(f"thread {k}, input {i}")
                    return
        except Exception as e:  # noqa: BLE001 - report any error from a worker
            failures.append(f"thread {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    # the results handed out are the caller's own arrays
    a = model.predict(inputs[2], verbose=0)
    b = model.predict(inputs[2], verbose=0)
    a[:] = 0
    assert np.array_equal(b, serial[2])


def test_threads_evaluate_like_serial():
    """``evaluate`` from several threads at once (metrics named by string: each call gets its
    own metric state) returns exactly the serial logs, batch sizes and sample weights varied."""
    config.set_seed(0)
    model = fastff.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"),
                               layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    rng = np.random.default_rng(2)
    cases = []
    for n, bs in ((1, 32), (33, 8), (100, 32), (257, 64)):
        x = rng.standard_normal((n, 12)).astype(np.float32)
        y = rng.integers(0, 4, size=n)
        sw = rng.uniform(0.5, 2.0, size=n) if n % 2 else None
        cases.append((x, y, sw, bs))
    serial = [model.evaluate(x, y, sample_weight=sw, batch_size=bs, verbose=0,
                             return_dict=True) for x, y, sw, bs in cases]
    n_threads, rounds = 6, 6
    barrier = threading.Barrier(n_threads)
    failures: list[str] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            order = np.random.default_rng(k).permutation(len(cases) * rounds) % len(cases)
            for i in order:
                x, y, sw, bs = cases[i]
                got = model.evaluate(x, y, sample_weight=sw, batch_size=bs, verbose=0,
                                     return_dict=True)
                if got != serial[i]:
                    failures.append(f"thread {k}, case {i}: {got} != {serial[i]}")
                    return
        except Exception as e:  # noqa: BLE001 - report any error from a worker
            failures.append(f"thread {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
