"""The tape's cost: a 784-256-256-10 MLP (Adam, batch 128) trained several ways, samples/s.

- ``general``: the built-in ``Sequential`` of Dense layers on its general path (the compiled
  path off, ``fastff.training.compiled.ENABLED = False``): one fused kernel call per layer and step;
- ``ops layers``: the hidden layers are custom layers whose ``call`` is
  ``ops.relu(ops.matmul(x, w) + b)`` (np.matmul + tape VJPs), the output a built-in Dense;
- ``block``: one custom layer whose ``call`` chains two built-in Dense sublayers (the tape
  records two layer nodes that replay the fused ``backprop`` closures), then a Dense output;
- ``subclassed``: a ``fastff.Model`` subclass holding the three Dense layers, whose
  ``call(x)`` chains them (the tape records three layer nodes);
- ``torch eager`` (with ``--peer-python``): the same subclassed model as a PyTorch
  ``nn.Module`` trained eagerly with ``torch.optim.Adam``, in a process of its own.

Medians over ``-r`` alternating rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tape_overhead.py [-r 5] \
        [--peer-python /path/to/venv-with-torch/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

TORCH_SCRIPT = r"""
import json, sys, time
import numpy as np
import torch
threads, samples, repeats, wall = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
rng = np.random.default_rng(0)
X = (rng.random((samples, 784)) * (rng.random((samples, 784)) < 0.2)).astype(np.float32)
Y = rng.integers(0, 10, samples)
X, Y = torch.from_numpy(X), torch.from_numpy(Y)

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.d1 = torch.nn.Linear(784, 256)
        self.d2 = torch.nn.Linear(256, 256)
        self.out = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.out(torch.relu(self.d2(torch.relu(self.d1(x)))))

model = MLP()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
lossf = torch.nn.CrossEntropyLoss()
clock = time.perf_counter if wall else time.process_time

def epoch(n):
    for s in range(0, n, 128):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(X[s:s + 128]), Y[s:s + 128])
        loss.backward()
        opt.step()

epoch(1024)  # warm up
times = []
for _ in range(repeats):
    t0 = clock(); epoch(samples); times.append(clock() - t0)
print(json.dumps(times))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-n", "--samples", type=int, default=8192)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--peer-python", default=None,
                    help="a Python with torch, for the PyTorch eager peer")
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

    class Subclassed(fastff.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d1 = Dense(256, activation="relu")
            self.d2 = Dense(256, activation="relu")
            self.out = Dense(10, activation="softmax")

        def call(self, x, training=None):
            return self.out(self.d2(self.d1(x)))

    def general():
        return [Dense(256, activation="relu"), Dense(256, activation="relu")]

    builds = {"general": general,
              "ops layers": lambda: [OpsDense(256), OpsDense(256)],
              "block": lambda: [Block()],
              "subclassed": None}
    rng = np.random.default_rng(0)
    X = (rng.random((args.samples, 784)) * (rng.random((args.samples, 784)) < 0.2)
         ).astype(np.float32)
    Y = rng.integers(0, 10, args.samples)
    models = {}
    for name, make in builds.items():
        m = Subclassed() if make is None else \
            fastff.Sequential([Input((784,)), *make(), Dense(10, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(X[:1024], Y[:1024], batch_size=128, epochs=1, verbose=0)  # warm up
        models[name] = m
    clock = time.perf_counter if args.wall else time.process_time
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.repeats):  # alternate rounds
        for name, m in models.items():
            t0 = clock()
            m.fit(X, Y, batch_size=128, epochs=1, verbose=0)
            times[name].append(clock() - t0)
    if args.peer_python:  # its own process: thread pools of two libraries distort each other
        out = subprocess.run([args.peer_python, "-c", TORCH_SCRIPT, str(args.threads),
                              str(args.samples), str(args.repeats), str(int(args.wall))],
                             capture_output=True, text=True, check=True)
        times["torch eager"] = json.loads(out.stdout.strip().splitlines()[-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["general"]
    print(f"{'model':<12} {'samples/s':>10} {'time vs general':>16}")
    for name, t in med.items():
        print(f"{name:<12} {args.samples / t:>10.0f} {t / base:>15.2f}x")
    print(f"(medians of {args.repeats} rounds, {args.threads} thread(s), "
          f"{'wall' if args.wall else 'process CPU'} time; python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
