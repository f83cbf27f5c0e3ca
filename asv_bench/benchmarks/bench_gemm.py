"""GEMM core benchmarks: square sizes and the MLP layer shapes, both dtypes, 1 and 2 threads.

Times ``fastff.linalg.gemm_into`` (the hot-path entry), so the numbers are the C core plus
a few hundred nanoseconds of call overhead. GFLOP/s = 2*m*n*k / time.
"""

from __future__ import annotations

import numpy as np

import fastff
from fastff import _threading, linalg

# (name, m, n, k, trans_a, trans_b) of a 784-256-256-10 MLP at batch 128 and 256:
# forward X@W, backward dY@Wᵀ (input gradient) and Xᵀ@dY (weight gradient)
LAYERS = [(784, 256), (256, 256), (256, 10)]


def _mlp_shapes() -> dict[str, tuple[int, int, int, bool, bool]]:
    shapes = {}
    for batch in (128, 256):
        for k, n in LAYERS:
            shapes[f"fwd {batch}x{k}x{n}"] = (batch, n, k, False, False)
            shapes[f"dX {batch}x{n}x{k}"] = (batch, k, n, False, True)
            shapes[f"dW {k}x{batch}x{n}"] = (k, n, batch, True, False)
    return shapes


MLP = _mlp_shapes()


def _set_threads(threads: int) -> None:
    if threads > _threading.default_num_threads():
        raise NotImplementedError("not enough CPUs for this thread count")  # asv: skip
    fastff.set_num_threads(threads)
    # time the thread count asked for, not the adaptive policy's choice (bench_train times
    # the default policy)
    _threading.set_adaptive_threads(False)


def _operands(m, n, k, trans_a, trans_b, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, np.empty((m, n), dtype)


class SquareGemm:
    params = ([256, 512, 1024, 2048], ["float32", "float64"], [1, 2])
    param_names = ["n", "dtype", "threads"]
    timeout = 300

    def setup(self, n, dtype, threads):
        _set_threads(threads)
        self.a, self.b, self.c = _operands(n, n, n, False, False, dtype)
        linalg.gemm_into(self.a, self.b, self.c)

    def time_gemm(self, n, dtype, threads):
        linalg.gemm_into(self.a, self.b, self.c)


class MlpGemm:
    params = (list(MLP), ["float32", "float64"], [1, 2])
    param_names = ["shape", "dtype", "threads"]

    def setup(self, shape, dtype, threads):
        _set_threads(threads)
        m, n, k, self.ta, self.tb = MLP[shape]
        self.a, self.b, self.c = _operands(m, n, k, self.ta, self.tb, dtype)
        linalg.gemm_into(self.a, self.b, self.c, self.ta, self.tb)

    def time_gemm(self, shape, dtype, threads):
        linalg.gemm_into(self.a, self.b, self.c, self.ta, self.tb)


class FusedDense:
    """Forward of a dense layer with bias and activation fused into the GEMM epilogue."""

    params = (["relu", "tanh", "gelu"], ["float32"])
    param_names = ["activation", "dtype"]

    def setup(self, activation, dtype):
        _set_threads(1)
        self.a, self.b, self.c = _operands(128, 256, 784, False, False, dtype)
        self.bias = np.zeros(256, dtype)
        self.act, self.param = linalg.activation_id(activation)

    def time_dense(self, activation, dtype):
        linalg.gemm_into(self.a, self.b, self.c, False, False, 1.0, 0.0, self.bias, self.act,
                         self.param)


class SingleRow:
    """Predict one sample through a 784->256 layer: latency, not throughput."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]

    def setup(self, dtype):
        _set_threads(1)
        self.a, self.b, self.c = _operands(1, 256, 784, False, False, dtype)

    def time_row(self, dtype):
        linalg.gemm_into(self.a, self.b, self.c)


class SparseAGemm:
    """The sparse-A entry (``gemm_into(..., sparse_a=True)``) on the first layer's forward and
    weight-gradient shapes and one predict row, beside the dense entry, at input densities
    around MNIST's (0.19) and past the switch to the dense path (0.3)."""

    shapes = {"fwd 128x784x256": (128, 256, 784, False), "dW 784x128x256": (784, 256, 128, True),
              "row 1x784x256": (1, 256, 784, False)}
    params = (list(shapes), [0.05, 0.19, 0.3], ["dense", "sparse_a"])
    param_names = ["shape", "density", "entry"]

    def setup(self, shape, density, entry):
        _set_threads(1)
        m, n, k, self.ta = self.shapes[shape]
        rng = np.random.default_rng(0)
        stored = (k, m) if self.ta else (m, k)
        self.a = (rng.random(stored) * (rng.random(stored) < density)).astype(np.float32)
        self.b = rng.standard_normal((k, n)).astype(np.float32)
        self.c = np.empty((m, n), np.float32)
        self.sparse = entry == "sparse_a"
        self.time_gemm(shape, density, entry)

    def time_gemm(self, shape, density, entry):
        linalg.gemm_into(self.a, self.b, self.c, self.ta, False, 1.0, 0.0, None, 0, 0.0,
                         self.sparse)
