"""The tape's cost: a 784-256-256-10 MLP (Adam, batch 128) trained three ways, samples/s.

- ``general``: the built-in ``Sequential`` of Dense layers on its general path (the compiled
  path off, ``fastff.training.compiled.ENABLED = False``): one fused kernel call per layer and step;
- ``ops layers``: the hidden layers are custom layers whose ``call`` is
  ``ops.relu(ops.matmul(x, w) + b)`` (np.matmul + tape VJPs), the output a built-in Dense;
- ``block``: one custom layer whose ``call`` chains two built-in Dense sublayers (the tape
  records two layer nodes that replay the fused ``backprop`` closures), then a Dense output.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tape_overhead.py [-r 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-n", "--samples", type=int, default=8192)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--wall", action="store_true",
                    help="time wall-clock (default: process CPU time, steadier on a shared "
                         "machine; equal to wall time with one thread)")
    args = ap.parse_args(argv)
    import fastff
    from fastff import ops
    from fastff.layers import Dense, Input, Layer
    from fastff.training import compiled as fastpath

    fastff.set_num_threads(args.threads)
    fastpath.ENABLED = False  # everything on the general path

    class OpsDense(Layer):
        def __init__(self, units: int, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, x):
            return ops.relu(ops.matmul(x, self.w) + self.b)

    class Block(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d1 = Dense(256, activation="relu")
            self.d2 = Dense(256, activation="relu")

        def call(self, x):
            return self.d2(self.d1(x))

    def general():
        return [Dense(256, activation="relu"), Dense(256, activation="relu")]

    builds = {"general": general,
              "ops layers": lambda: [OpsDense(256), OpsDense(256)],
              "block": lambda: [Block()]}
    rng = np.random.default_rng(0)
    X = (rng.random((args.samples, 784)) * (rng.random((args.samples, 784)) < 0.2)
         ).astype(np.float32)
    Y = rng.integers(0, 10, args.samples)
    models = {}
    for name, make in builds.items():
        m = fastff.Sequential([Input((784,)), *make(), Dense(10, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(X[:1024], Y[:1024], batch_size=128, epochs=1, verbose=0)  # warm up
        models[name] = m
    clock = time.perf_counter if args.wall else time.process_time
    best = {k: float("inf") for k in models}
    for _ in range(args.repeats):  # alternate, take the best of each
        for name, m in models.items():
            t0 = clock()
            m.fit(X, Y, batch_size=128, epochs=1, verbose=0)
            best[name] = min(best[name], clock() - t0)
    base = best["general"]
    print(f"{'model':<12} {'samples/s':>10} {'vs general':>11}")
    for name, t in best.items():
        print(f"{name:<12} {args.samples / t:>10.0f} {t / base:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
