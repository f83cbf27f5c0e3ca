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


def step_breakdown(backend: str = "cpu", threads: int = 1, steps: int = 200,
                   repeats: int = 5) -> dict[str, float]:
    """Median µs per op of one 784-256-256-10 ReLU training step (Adam, batch 128) written
    directly against the Ops (forward, fused losses, fused backward, one Adam kernel)."""
    import time

    import fastff
    from fastff import optimizers

    fastff.set_num_threads(threads)
    ops = get_ops(backend)
    batch, dims = 128, [784, 256, 256, 10]
    f32 = np.float32
    rng = np.random.default_rng(0)
    shapes = []
    for i, o in zip(dims[:-1], dims[1:]):
        shapes += [(i, o), (o,)]
    sizes = [int(np.prod(s)) for s in shapes]
    params, grads = ops.alloc(sum(sizes), f32), ops.alloc(sum(sizes), f32)
    offs = np.cumsum([0] + sizes)
    pv = [params[a:b].reshape(s) for a, b, s in zip(offs[:-1], offs[1:], shapes)]
    gv = [grads[a:b].reshape(s) for a, b, s in zip(offs[:-1], offs[1:], shapes)]
    for w in pv[0::2]:
        w[...] = rng.standard_normal(w.shape) * 0.05
    x = rng.random((batch, 784)).astype(f32)
    y = rng.integers(0, 10, batch)
    h = [ops.alloc((batch, d), f32) for d in dims[1:]]
    dh = [ops.alloc((batch, d), f32) for d in dims[1:]]
    work = [ops.alloc((batch, d), f32) for d in dims[1:]]
    opt = optimizers.Adam(1e-3)
    opt.ops = ops
    opt.build(params.size, f32)
    acc: dict[str, list[float]] = {}

    def step(t: dict[str, float]) -> None:
        c = time.perf_counter
        t0 = c()
        ops.dense(x, pv[0], pv[1], "relu", 0.0, out=h[0])
        t1 = c()
        ops.dense(h[0], pv[2], pv[3], "relu", 0.0, out=h[1])
        t2 = c()
        ops.dense(h[1], pv[4], pv[5], "linear", 0.0, out=h[2])
        t3 = c()
        _, dz = ops.softmax_xent_sparse(h[2], y, None, dh[2])
        t4 = c()
        g = ops.backprop_dense(dz, h[1], pv[4], gv[4], gv[5], dx=dh[1])
        t5 = c()
        g = ops.backprop_dense(g, h[0], pv[2], gv[2], gv[3], dx=dh[0], activation="relu",
                               y=h[1], work=work[1])
        t6 = c()
        ops.backprop_dense(g, x, pv[0], gv[0], gv[1], dx=False, activation="relu", y=h[0],
                           work=work[0])
        t7 = c()
        opt.apply(params, grads)
        t8 = c()
        for k, a, b in (("dense 784->256 relu", t0, t1), ("dense 256->256 relu", t1, t2),
                        ("dense 256->10", t2, t3), ("softmax_xent_sparse", t3, t4),
                        ("backprop_dense 10 (dW, db, dx)", t4, t5),
                        ("backprop_dense 256 relu (dW, db, dx)", t5, t6),
                        ("backprop_dense 784 relu (dW, db)", t6, t7), ("adam (269k)", t7, t8),
                        ("total", t0, t8)):
            t[k] = t.get(k, 0.0) + (b - a)

    for _ in range(20):
        step({})
    for _ in range(repeats):
        t: dict[str, float] = {}
        for _ in range(steps):
            step(t)
        for k, v in t.items():
            acc.setdefault(k, []).append(v / steps * 1e6)
    return {k: float(np.median(v)) for k, v in acc.items()}


if __name__ == "__main__":
    import sys

    backend = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    res = step_breakdown(backend, threads)
    total = res["total"]
    print(f"{backend}, {threads} thread(s): {total:.0f} us/step = {128e6 / total:,.0f} samples/s")
    for k, v in res.items():
        if k != "total":
            print(f"  {k:40s} {v:8.1f} us  {100 * v / total:5.1f}%")
