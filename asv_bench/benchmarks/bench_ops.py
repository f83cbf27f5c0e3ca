"""asv benchmarks of the hot Ops kernels: Numba/C (``cpu``) against the NumPy reference.

Shapes are those of one training step of the 784-256-256-10 MLP (batch 128) plus a larger
softmax batch and the whole-model Adam step over its 269,322 parameters.
"""

from __future__ import annotations

import numpy as np

from fastff.backend import get_ops

BACKENDS = ["numpy", "cpu"]


class SoftmaxXentSparse:
    params = (BACKENDS, [128, 1024])
    param_names = ["backend", "rows"]

    def setup(self, backend: str, rows: int) -> None:
        rng = np.random.default_rng(0)
        self.ops = get_ops(backend)
        self.z = rng.standard_normal((rows, 10)).astype(np.float32)
        self.labels = rng.integers(0, 10, rows)
        self.dz = np.empty_like(self.z)
        self.ops.softmax_xent_sparse(self.z, self.labels, None, self.dz)  # compile

    def time_softmax_xent_sparse(self, backend: str, rows: int) -> None:
        self.ops.softmax_xent_sparse(self.z, self.labels, None, self.dz)


class AdamStep:
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend: str) -> None:
        n = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
        rng = np.random.default_rng(0)
        self.ops = get_ops(backend)
        self.p = rng.standard_normal(n).astype(np.float32)
        self.g = rng.standard_normal(n).astype(np.float32)
        self.m = np.zeros(n, np.float32)
        self.v = np.zeros(n, np.float32)
        self.ops.adam_step(self.p, self.g, self.m, self.v, None, 1e-3, step=1)

    def time_adam_step_270k(self, backend: str) -> None:
        self.ops.adam_step(self.p, self.g, self.m, self.v, None, 1e-3, step=10)


class DenseForward:
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend: str) -> None:
        rng = np.random.default_rng(0)
        self.ops = get_ops(backend)
        self.x = rng.random((128, 784)).astype(np.float32)
        self.w = (rng.standard_normal((784, 256)) * 0.05).astype(np.float32)
        self.b = np.zeros(256, np.float32)
        self.out = np.empty((128, 256), np.float32)
        self.ops.dense(self.x, self.w, self.b, "relu", 0.0, out=self.out)

    def time_dense_128x784_256_relu(self, backend: str) -> None:
        self.ops.dense(self.x, self.w, self.b, "relu", 0.0, out=self.out)


class DenseBackward:
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend: str) -> None:
        rng = np.random.default_rng(0)
        self.ops = get_ops(backend)
        self.h = rng.random((128, 256)).astype(np.float32)
        self.w = (rng.standard_normal((256, 256)) * 0.05).astype(np.float32)
        self.y = np.maximum(rng.standard_normal((128, 256)), 0).astype(np.float32)
        self.dy = rng.standard_normal((128, 256)).astype(np.float32)
        self.dw = np.empty_like(self.w)
        self.db = np.empty(256, np.float32)
        self.dx = np.empty_like(self.h)
        self.work = np.empty_like(self.dy)
        self.time_backprop_dense_relu_128x256_256(backend)

    def time_backprop_dense_relu_128x256_256(self, backend: str) -> None:
        self.ops.backprop_dense(self.dy, self.h, self.w, self.dw, self.db, dx=self.dx,
                                activation="relu", y=self.y, work=self.work)
