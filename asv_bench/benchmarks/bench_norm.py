"""asv benchmarks of the normalization kernels: Numba (``cpu``) against the NumPy reference.

BatchNormalization's training forward (statistics, moving update, normalize) and backward,
LayerNormalization's forward and backward, on the MLP's activations (batch 256 x 256
features) and on a 16k-row batch that no longer fits in L2. ``StreamPass`` times one
streaming pass over the same bytes (``y[...] = x``): a kernel's time divided by it is its cost
in memory passes (``benchmarks/norm_passes.py`` prints that table).
"""

from __future__ import annotations

import numpy as np

from fastff.backend import get_ops

BACKENDS = ["numpy", "cpu"]
ROWS = [256, 16384]
FEATURES = 256


def _arrays(rows: int):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((rows, FEATURES)) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    g = rng.uniform(0.5, 1.5, FEATURES).astype(np.float32)
    b = rng.standard_normal(FEATURES).astype(np.float32)
    return x, dy, g, b


class StreamPass:
    params = (ROWS,)
    param_names = ["rows"]

    def setup(self, rows: int) -> None:
        self.x = _arrays(rows)[0]
        self.y = np.empty_like(self.x)

    def time_stream_pass(self, rows: int) -> None:
        np.copyto(self.y, self.x)


class BatchNormTrain:
    params = (BACKENDS, ROWS)
    param_names = ["backend", "rows"]

    def setup(self, backend: str, rows: int) -> None:
        self.ops = get_ops(backend)
        self.x, self.dy, self.g, self.b = _arrays(rows)
        self.y, self.dx = np.empty_like(self.x), np.empty_like(self.x)
        self.mm = np.zeros(FEATURES, np.float32)
        self.mv = np.ones(FEATURES, np.float32)
        self.dg = np.empty(FEATURES, np.float32)
        self.db = np.empty(FEATURES, np.float32)
        _, self.mean, self.var = self.ops.batch_norm_train(self.x, self.g, self.b, self.mm,
                                                           self.mv, 0.99, 1e-3, out=self.y)
        self.time_backward(backend, rows)  # compile

    def time_forward(self, backend: str, rows: int) -> None:
        self.ops.batch_norm_train(self.x, self.g, self.b, self.mm, self.mv, 0.99, 1e-3,
                                  out=self.y)

    def time_backward(self, backend: str, rows: int) -> None:
        self.ops.backprop_batch_norm(self.dy, self.x, self.g, self.mean, self.var, 1e-3,
                                     self.dg, self.db, self.dx, True)


class LayerNorm:
    params = (BACKENDS, ROWS)
    param_names = ["backend", "rows"]

    def setup(self, backend: str, rows: int) -> None:
        self.ops = get_ops(backend)
        self.x, self.dy, self.g, self.b = _arrays(rows)
        self.y, self.dx = np.empty_like(self.x), np.empty_like(self.x)
        self.dg = np.empty(FEATURES, np.float32)
        self.db = np.empty(FEATURES, np.float32)
        _, self.mean, self.inv = self.ops.layer_norm(self.x, self.g, self.b, 1e-3, out=self.y)
        self.time_backward(backend, rows)  # compile

    def time_forward(self, backend: str, rows: int) -> None:
        self.ops.layer_norm(self.x, self.g, self.b, 1e-3, out=self.y)

    def time_backward(self, backend: str, rows: int) -> None:
        self.ops.backprop_layer_norm(self.dy, self.x, self.g, self.mean, self.inv, self.dg,
                                     self.db, self.dx)
