"""asv benchmarks of the embedding kernels: Numba (``cpu``) against NumPy (``numpy``).

Shapes are those of the NLP examples: the DAN's bag of up to 56 GloVe ids per sentence
(16,116 x 50 table, batch 32 and 1,024), and the POS tagger's window of 5 word ids
(batch 64 and 4,096, 64-d rows). Forward and backward (scatter-add with the rows touched);
``track_*`` report bytes moved per second, to compare with the memory bandwidth.
"""

from __future__ import annotations

import time

import numpy as np

from fastff.backend import get_ops

BACKENDS = ["numpy", "cpu"]


def _bag_ids(rows: int, length: int, vocab: int, rng: np.random.Generator) -> np.ndarray:
    ids = rng.integers(2, vocab, (rows, length)).astype(np.int32)
    lens = rng.integers(3, length + 1, rows)
    ids[np.arange(length)[None, :] >= lens[:, None]] = 0  # padding after each sentence
    return ids


class EmbeddingBagMean:
    params = (BACKENDS, [32, 1024])
    param_names = ["backend", "batch"]

    def setup(self, backend: str, batch: int) -> None:
        rng = np.random.default_rng(0)
        self.ops = get_ops(backend)
        self.table = rng.standard_normal((16116, 50)).astype(np.float32)
        self.grad = np.zeros_like(self.table)
        self.ids = _bag_ids(batch, 56, 16116, rng)
        self.out = np.empty((batch, 50), np.float32)
        self.dy = rng.standard_normal((batch, 50)).astype(np.float32)
        self.rows = self.ops.backprop_embedding_bag(self.dy, self.ids, self.grad, 0, "mean")
        self.ops.embedding_bag(self.table, self.ids, 0, "mean", out=self.out)

    def time_forward(self, backend: str, batch: int) -> None:
        self.ops.embedding_bag(self.table, self.ids, 0, "mean", out=self.out)

    def time_backward(self, backend: str, batch: int) -> None:
        self.ops.backprop_embedding_bag(self.dy, self.ids, self.grad, 0, "mean",
                                        prev_rows=self.rows)

    def track_forward_gbytes_per_s(self, backend: str, batch: int) -> float:
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            self.time_forward(backend, batch)
        dt = (time.perf_counter() - t0) / n
        moved = int((self.ids > 0).sum()) * 50 * 4 + self.out.nbytes + self.ids.nbytes
        return moved / dt / 1e9

    track_forward_gbytes_per_s.unit = "GB/s"


class WindowGather:
    params = (BACKENDS, [64, 4096])
    param_names = ["backend", "batch"]

    def setup(self, backend: str, batch: int) -> None:
        rng = np.random.default_rng(1)
        self.ops = get_ops(backend)
        self.table = rng.standard_normal((10000, 64)).astype(np.float32)
        self.grad = np.zeros_like(self.table)
        self.ids = rng.integers(0, 10000, (batch, 5)).astype(np.int32)
        self.out = np.empty((batch * 5, 64), np.float32)
        self.dy = rng.standard_normal((batch * 5, 64)).astype(np.float32)
        self.rows = self.ops.backprop_embedding_gather(self.dy, self.ids, self.grad, -1)
        self.ops.embedding_gather(self.table, self.ids, -1, out=self.out)

    def time_forward(self, backend: str, batch: int) -> None:
        self.ops.embedding_gather(self.table, self.ids, -1, out=self.out)

    def time_backward(self, backend: str, batch: int) -> None:
        self.ops.backprop_embedding_gather(self.dy, self.ids, self.grad, -1,
                                           prev_rows=self.rows)

    def track_forward_gbytes_per_s(self, backend: str, batch: int) -> float:
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            self.time_forward(backend, batch)
        dt = (time.perf_counter() - t0) / n
        return 2 * self.out.nbytes / dt / 1e9

    track_forward_gbytes_per_s.unit = "GB/s"
