"""asv benchmarks of whole-model speed: ``fit``, ``predict``, ``import fastff``, tiny nets.

The workloads of ``benchmarks/fit_vs_peers.py`` without the peers, so regressions of
the compiled path (``fastff.training.compiled``) or the general loop show commit by commit:
- one epoch of the 784-256-256-10 ReLU MLP, Adam, batch 128, on 60k MNIST-like rows;
- ``predict`` of that model on 1 row and on 1024 rows;
- ``import fastff`` in a fresh process;
- XOR 2-8-1 tanh (100 full-batch epochs per call) and digits 64-32-10 (one epoch, batch 32).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import fastff
from fastff import layers

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _mnist_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    if str(_BENCH) not in sys.path:
        sys.path.insert(0, str(_BENCH))
    from fit_vs_peers import mnist_like

    return mnist_like(n)


def _mlp(sizes: list[int], activation: str = "relu", lr: float = 1e-3) -> fastff.Sequential:
    stack = [layers.Input((sizes[0],))]
    stack += [layers.Dense(u, activation=activation) for u in sizes[1:-1]]
    binary = sizes[-1] == 1
    stack.append(layers.Dense(sizes[-1], activation="sigmoid" if binary else "softmax"))
    model = fastff.Sequential(stack)
    model.compile(optimizer=fastff.optimizers.Adam(learning_rate=lr),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")
    return model


class FitMLP:
    """One epoch of the 784-256-256-10 MLP at batch 128 (samples/s = 60,000 / time)."""

    number = 1
    repeat = 3
    timeout = 600

    def setup(self) -> None:
        self.x, self.y = _mnist_like(60_000)
        self.model = _mlp([784, 256, 256, 10])
        self.model.fit(self.x[:1024], self.y[:1024], batch_size=128, epochs=1, verbose=0)

    def time_fit_epoch_batch128(self) -> None:
        self.model.fit(self.x, self.y, batch_size=128, epochs=1, verbose=0)


class PredictMLP:
    params = ([1, 1024],)
    param_names = ["rows"]

    def setup(self, rows: int) -> None:
        self.model = _mlp([784, 256, 256, 10])
        self.x = np.random.default_rng(1).random((rows, 784), dtype=np.float32)
        self.model.predict(self.x, verbose=0)

    def time_predict(self, rows: int) -> None:
        self.model.predict(self.x, verbose=0)


class TinyNets:
    def setup(self) -> None:
        self.xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        self.xor_y = np.array([0, 1, 1, 0])
        self.xor = _mlp([2, 8, 1], activation="tanh", lr=0.05)
        self.xor.fit(self.xor_x, self.xor_y, batch_size=4, epochs=2, verbose=0)
        try:
            from sklearn.datasets import load_digits

            d = load_digits()
            self.dx, self.dy = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
        except ImportError:
            rng = np.random.default_rng(0)
            self.dx = rng.random((1797, 64), dtype=np.float32)
            self.dy = rng.integers(0, 10, 1797)
        self.digits = _mlp([64, 32, 10])
        self.digits.fit(self.dx, self.dy, batch_size=32, epochs=1, verbose=0)

    def time_xor_100_steps(self) -> None:
        self.xor.fit(self.xor_x, self.xor_y, batch_size=4, epochs=100, verbose=0)

    def time_digits_epoch(self) -> None:
        self.digits.fit(self.dx, self.dy, batch_size=32, epochs=1, verbose=0)


def timeraw_import_fastff() -> str:
    """``import fastff`` in a fresh interpreter (asv times the whole snippet)."""
    return "import fastff"
