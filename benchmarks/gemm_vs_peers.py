"""GEMM throughput of fastff vs NumPy (OpenBLAS) and PyTorch (when installed), in one table.

Run:  python benchmarks/gemm_vs_peers.py [--quick] [--dtype float32|float64|both] [--threads 1,2]

Every (shape, threads) cell times the libraries alternately, round after round, and reports
the median GFLOP/s (2*m*n*k / seconds per call) of each, plus fastff's ratio to each peer;
the single row (1 x 784 -> 256, a one-sample predict) is reported in microseconds per call.
All three are called through their low-overhead entry: ``fastff.linalg.gemm_into``,
``np.matmul(..., out=)`` and ``torch.matmul(..., out=)`` on preallocated arrays.

Environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, force OpenBLAS onto another
kernel or cache size and can make NumPy slower than it really is; this script removes both
from its own environment before NumPy is imported (and says so) and prints the OpenBLAS
kernel in use (threadpoolctl). On a shared machine, timings are only as good as the machine
is quiet: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_REMOVED = {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
            if k in os.environ}

import numpy as np  # noqa: E402  (after cleaning the environment on purpose)

import fastff  # noqa: E402
from fastff import _threading, linalg  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None
try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    threadpool_info = threadpool_limits = None

SQUARE = [256, 512, 1024, 2048]
LAYERS = [(784, 256), (256, 256), (256, 10)]


def shapes(quick: bool) -> list[tuple[str, int, int, int, bool, bool]]:
    """(label, m, n, k, trans_a, trans_b)."""
    out = [(f"{n}^3", n, n, n, False, False) for n in (SQUARE[:3] if quick else SQUARE)]
    for batch in ((128,) if quick else (128, 256)):
        for k, n in LAYERS:
            out.append((f"fwd X@W {batch}x{k}x{n}", batch, n, k, False, False))
            out.append((f"dX dY@Wt {batch}x{n}x{k}", batch, k, n, False, True))
            out.append((f"dW Xt@dY {k}x{batch}x{n}", k, n, batch, True, False))
    out.append(("row 1x784x256 (us)", 1, 256, 784, False, False))
    return out


class Runner:
    """Sets one thread count for every library and times one call of each."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        fastff.set_num_threads(self.threads)
        self._limits = (threadpool_limits(limits=self.threads, user_api="blas")
                        if threadpool_limits else None)
        if torch is not None:
            self._torch_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        if torch is not None:
            torch.set_num_threads(self._torch_threads)


def calls(m, n, k, ta, tb, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    av = a.T if ta else a
    bv = b.T if tb else b
    funcs = {
        "fastff": lambda: linalg.gemm_into(a, b, c, ta, tb),
        "numpy": lambda: np.matmul(av, bv, out=c),
    }
    if torch is not None:
        ta_, tb_, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(np.empty_like(c))
        tav = ta_.T if ta else ta_
        tbv = tb_.T if tb else tb_
        funcs["torch"] = lambda: torch.matmul(tav, tbv, out=tc)
    return funcs


def time_call(f, min_time: float, clock=time.perf_counter) -> float:
    """Seconds per call: repeat until a batch lasts min_time."""
    reps = 1
    while True:
        t0 = clock()
        for _ in range(reps):
            f()
        dt = clock() - t0
        if dt >= min_time:
            return dt / reps
        reps = max(reps * 2, int(reps * min_time / max(dt, 1e-9)) + 1)


def measure(funcs, rounds: int, min_time: float, clock=time.perf_counter) -> dict[str, float]:
    for f in funcs.values():  # warm up: caches, thread pools, packing buffers
        f()
        f()
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, f in funcs.items():  # alternate libraries inside every round
            samples[name].append(time_call(f, min_time, clock))
    return {name: float(np.median(v)) for name, v in samples.items()}


def openblas_kernel() -> str:
    if threadpool_info is None:
        return "unknown (pip install threadpoolctl)"
    for pool in threadpool_info():
        if pool.get("internal_api") == "openblas":
            return f"{pool.get('architecture')} ({pool.get('version')})"
    return "no OpenBLAS found"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    ap.add_argument("--dtype", default="both", choices=["float32", "float64", "both"])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per cell")
    ap.add_argument("--clock", default="wall", choices=["wall", "process"],
                    help="process: CPU time of this process for 1-thread cells (robust to "
                         "preemption on a shared machine); multi-thread cells stay on wall time")
    args = ap.parse_args(argv)
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    threads = [int(t) for t in args.threads.split(",")]
    rounds = args.rounds or (3 if args.quick else 7)
    min_time = 0.02 if args.quick else 0.05

    if _REMOVED:
        print(f"note: removed {', '.join(f'{k}={v}' for k, v in _REMOVED.items())} from this "
              "process's environment so NumPy's OpenBLAS picks its own kernel")
    facts = linalg.kernel_name(), openblas_kernel(), torch.__version__ if torch else "absent"
    print(f"fastff {fastff.__version__} kernel {facts[0]} | NumPy {np.__version__} OpenBLAS "
          f"{facts[1]} | PyTorch {facts[2]} | load average {os.getloadavg()[0]:.2f}")
    peers = ["numpy"] + (["torch"] if torch is not None else [])
    head = f"{'shape':<24} {'dtype':<8} {'thr':>3} {'fastff':>8} " + " ".join(
        f"{p:>8}" for p in peers) + " " + " ".join(f"{'ff/' + p:>9}" for p in peers)
    print("GFLOP/s (medians; row: microseconds per call)")
    print(head)
    print("-" * len(head))
    for dtype in dtypes:
        for label, m, n, k, ta, tb in shapes(args.quick):
            for nt in threads:
                if nt > _threading.default_num_threads():
                    continue
                clock = (time.process_time if args.clock == "process" and nt == 1
                         else time.perf_counter)
                with Runner(nt):
                    med = measure(calls(m, n, k, ta, tb, np.dtype(dtype)), rounds, min_time,
                                  clock)
                flop = 2.0 * m * n * k
                row = m == 1
                vals = {name: (t * 1e6 if row else flop / t / 1e9) for name, t in med.items()}
                ratios = [med[p] / med["fastff"] for p in peers]  # >1: fastff faster
                print(f"{label:<24} {dtype:<8} {nt:>3} {vals['fastff']:>8.1f} "
                      + " ".join(f"{vals[p]:>8.1f}" for p in peers) + " "
                      + " ".join(f"{r:>9.2f}" for r in ratios), flush=True)
    print(f"clock: {args.clock} (1-thread cells), wall (others). "
          f"ff/peer = peer time / fastff time (> 1: fastff faster). "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
