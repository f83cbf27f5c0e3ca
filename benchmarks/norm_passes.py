"""BatchNormalization / LayerNormalization forward+backward in memory passes over the activations.

One "pass" is the time of one streaming pass over the same bytes: ``y[...] = x`` (the activations
read once and written once). Each kernel's time is divided by it, for fastff's kernels
(``cpu`` backend) and for the plain NumPy implementation (the ``numpy`` backend, the reference
every kernel is tested against). The byte floor of each operation is printed beside it: a
training forward must read x for the statistics before it can write y (3 array streams = 1.5
passes), a training backward must read dy and x for the sums before it can write dx (5 streams
= 2.5 passes); LayerNorm's rows fit in cache, so 2 and 3 streams (1 and 1.5 passes).

Shapes: the MLP's 256 features at batch 256 (in L2), 4096 rows (in L3) and 65536 rows (64 MB
in float32, from DRAM). Samples alternate between the contenders; medians are reported.

    python benchmarks/norm_passes.py [-r REPEATS] [-t THREADS] [--clock cpu|wall] [--dtype ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

FLOOR = {"bn fwd (train)": 1.5, "bn bwd (train)": 2.5, "bn fwd+bwd": 4.0,
         "ln fwd": 1.0, "ln bwd": 1.5, "ln fwd+bwd": 2.5}


def sample(fn: Callable[[], object], clock: Callable[[], float], budget: float = 0.02) -> float:
    """Seconds per call of ``fn``, looping until ``budget`` seconds have passed."""
    fn()
    k, start = 0, clock()
    while True:
        fn()
        k += 1
        spent = clock() - start
        if spent >= budget:
            return spent / k


def contenders(ops, x, dy, g, b):
    """The timed calls of one backend on one shape (buffers preallocated)."""
    c = x.shape[1]
    y, dx = np.empty_like(x), np.empty_like(x)
    mm, mv = np.zeros(c, x.dtype), np.ones(c, x.dtype)
    dg, db = np.empty(c, x.dtype), np.empty(c, x.dtype)
    _, mean, var = ops.batch_norm_train(x, g, b, mm, mv, 0.99, 1e-3, out=y)
    _, lm, li = ops.layer_norm(x, g, b, 1e-3, out=y)
    return {
        "bn fwd (train)": lambda: ops.batch_norm_train(x, g, b, mm, mv, 0.99, 1e-3, out=y),
        "bn bwd (train)": lambda: ops.backprop_batch_norm(dy, x, g, mean, var, 1e-3, dg, db,
                                                          dx, True),
        "ln fwd": lambda: ops.layer_norm(x, g, b, 1e-3, out=y),
        "ln bwd": lambda: ops.backprop_layer_norm(dy, x, g, lm, li, dg, db, dx),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--repeats", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="wall",
                    help="cpu: process CPU time (steadier on a shared machine; sums threads)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--rows", type=int, nargs="+", default=[256, 4096, 65536])
    ap.add_argument("--features", type=int, default=256)
    args = ap.parse_args(argv)
    import fastff
    from fastff.backend import get_ops

    fastff.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    dt = np.dtype(args.dtype)
    cpu, ref = get_ops("cpu"), get_ops("numpy")
    print(f"dtype {dt}, {args.features} features, threads {args.threads}, clock {args.clock}, "
          f"median of {args.repeats}")
    print(f"{'rows':>6} {'op':<15} {'floor':>6} {'fastff':>8} {'numpy':>8} {'fastff ms':>10} "
          f"{'numpy/fastff':>13}")
    for n in args.rows:
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((n, args.features)) * 2 + 1).astype(dt)
        dy = rng.standard_normal(x.shape).astype(dt)
        g = rng.uniform(0.5, 1.5, args.features).astype(dt)
        b = rng.standard_normal(args.features).astype(dt)
        y = np.empty_like(x)
        stream = lambda y=y, x=x: np.copyto(y, x)  # noqa: E731
        mine, theirs = contenders(cpu, x, dy, g, b), contenders(ref, x, dy, g, b)
        times: dict[str, list[float]] = {"stream": []}
        for _ in range(args.repeats):
            times["stream"].append(sample(stream, clock))
            for name in mine:
                times.setdefault(("f", name), []).append(sample(mine[name], clock))
                times.setdefault(("n", name), []).append(sample(theirs[name], clock))
        med = {k: statistics.median(v) for k, v in times.items()}
        unit = med["stream"]
        for kind in ("bn", "ln"):
            for name in [k for k in mine if k.startswith(kind)] + [f"{kind} fwd+bwd"]:
                if name.endswith("fwd+bwd"):
                    parts = [k for k in mine if k.startswith(kind)]
                    f = sum(med[("f", k)] for k in parts)
                    p = sum(med[("n", k)] for k in parts)
                else:
                    f, p = med[("f", name)], med[("n", name)]
                print(f"{n:>6} {name:<15} {FLOOR[name]:>6.1f} {f / unit:>8.2f} {p / unit:>8.2f} "
                      f"{f * 1e3:>10.3f} {p / f:>12.1f}x")
        print(f"{n:>6} {'(one pass)':<15} {'':>6} {'1.00':>8} {'':>8} {unit * 1e3:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
