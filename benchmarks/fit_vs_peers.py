"""Training and inference speed of fastff beside PyTorch and scikit-learn, measured in one run.

Workloads (issue "Speed"):
  a  784-256-256-10 ReLU MLP, Adam 1e-3, float32, one epoch over 60,000 MNIST-like rows,
     batch 128 and 1024 (samples/s; epochs after a warm-up, so Adam's denormal trap shows)
  b  that model's single-sample predict latency and 1024-row predict throughput
  c  tiny nets: XOR 2-8-1 tanh (full batch, time per step) and digits 64-32-10
     (batch 32, time per epoch)
  d  ``import fastff`` and the first ``fit`` in a new process, warm and cold Numba cache

Every library runs each workload in turn inside one process (round-robin over repeats), and
the table reports medians with the ratio to PyTorch eager. Peers are optional: a library that
is not installed is left out. PyTorch: ``pip install torch==2.13.0`` (CPU build).

    python benchmarks/fit_vs_peers.py                 # everything, 1 and 2 threads
    python benchmarks/fit_vs_peers.py -w a -t 2 -r 5  # one workload, 2 threads, 5 repeats
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- data
def mnist_like(n: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST pixels (5k train subset + 10k test, tiled to ``n`` rows) scaled to [0, 1].

    Real images matter: their always-zero border pixels are what turns Adam's moments
    denormal. Falls back to sparse synthetic images when the data set is absent.
    """
    try:
        from fastff.data import load_mnist

        (x1, y1), (x2, y2) = load_mnist()
        x = np.concatenate([x1, x2]).astype(np.float32) / 255.0
        y = np.concatenate([y1, y2]).astype(np.int64)
    except (FileNotFoundError, ImportError) as err:
        print(f"# MNIST not found ({err}); using synthetic sparse images", file=sys.stderr)
        rng = np.random.default_rng(0)
        x = (rng.random((15_000, 784)) * (rng.random((15_000, 784)) < 0.2)).astype(np.float32)
        y = rng.integers(0, 10, 15_000)
    reps = -(-n // x.shape[0])
    return np.tile(x, (reps, 1))[:n].copy(), np.tile(y, reps)[:n].copy()


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.int64)


# ----------------------------------------------------------------------------- libraries
class Lib:
    """One library's implementation of the workloads; methods return seconds."""

    name = ""

    def set_threads(self, n: int) -> None: ...


class FastFF(Lib):
    name = "fastff"

    def __init__(self) -> None:
        import fastff

        self.ff = fastff

    def set_threads(self, n: int) -> None:
        self.ff.set_num_threads(n)

    def mlp(self, sizes, activation="relu", out="softmax"):
        ff = self.ff
        layers = [ff.Input((sizes[0],))]
        layers += [ff.layers.Dense(u, activation=activation) for u in sizes[1:-1]]
        layers.append(ff.layers.Dense(sizes[-1], activation=out))
        return ff.Sequential(layers)

    def train(self, sizes, batch, activation="relu", lr=1e-3):
        model = self.mlp(sizes, activation, "sigmoid" if sizes[-1] == 1 else "softmax")
        loss = "binary_crossentropy" if sizes[-1] == 1 else "sparse_categorical_crossentropy"
        model.compile(optimizer=self.ff.optimizers.Adam(learning_rate=lr), loss=loss)

        def epoch(x, y, epochs=1):
            t = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True)
            return time.perf_counter() - t

        return model, epoch

    def predictor(self, model):
        return lambda x: model.predict(x, verbose=0)


class Torch(Lib):
    name = "pytorch"

    def __init__(self, fused: bool = False) -> None:
        import torch

        self.torch = torch
        self.fused = fused
        if fused:
            self.name = "pytorch-fused+ftz"

    def set_threads(self, n: int) -> None:
        self.torch.set_num_threads(n)

    def train(self, sizes, batch, activation="relu", lr=1e-3):
        torch = self.torch
        nn = torch.nn
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        mods = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            mods += [nn.Linear(a, b), act()]
        mods.append(nn.Linear(sizes[-2], sizes[-1]))
        model = nn.Sequential(*mods)
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=self.fused or None)
        binary = sizes[-1] == 1
        loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()

        def epoch(x, y, epochs=1):
            X = torch.from_numpy(x)
            Y = torch.from_numpy(y.astype(np.float32)[:, None] if binary else y)
            if self.fused:
                torch.set_flush_denormal(True)
            t = time.perf_counter()
            for _ in range(epochs):
                perm = torch.randperm(X.shape[0])
                for s in range(0, X.shape[0], batch):
                    idx = perm[s:s + batch]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(X[idx]), Y[idx])
                    loss.backward()
                    opt.step()
            dt = time.perf_counter() - t
            if self.fused:
                torch.set_flush_denormal(False)
            return dt

        return model, epoch

    def predictor(self, model):
        torch = self.torch

        def run(x):
            with torch.inference_mode():
                return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()

        return run


class SkLearn(Lib):
    name = "scikit-learn"

    def __init__(self) -> None:
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        self.cls = MLPClassifier
        self.limits = threadpool_limits
        self.threads = 1

    def set_threads(self, n: int) -> None:
        self.threads = n

    def train(self, sizes, batch, activation="relu", lr=1e-3):
        import warnings

        clf = self.cls(hidden_layer_sizes=tuple(sizes[1:-1]), activation=activation,
                       solver="adam", learning_rate_init=lr, batch_size=batch, max_iter=1,
                       shuffle=True, random_state=0)
        classes = None

        def epoch(x, y, epochs=1):
            nonlocal classes
            classes = np.unique(y) if classes is None else classes
            with self.limits(self.threads), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                for _ in range(epochs):
                    clf.partial_fit(x, y, classes=classes)
                return time.perf_counter() - t

        return clf, epoch

    def predictor(self, model):
        def run(x):
            with self.limits(self.threads):
                return model.predict_proba(x)

        return run


def available_libs(names: list[str]) -> list[Lib]:
    makers: dict[str, Callable[[], Lib]] = {
        "fastff": FastFF, "pytorch": Torch, "pytorch-fused": lambda: Torch(fused=True),
        "scikit-learn": SkLearn,
    }
    libs = []
    for name in names:
        try:
            libs.append(makers[name]())
        except ImportError as err:
            print(f"# {name}: not installed ({err}); left out", file=sys.stderr)
    return libs


# ----------------------------------------------------------------------------- measuring
def per_call(fn: Callable[[], object], min_time: float = 0.2) -> float:
    """Seconds per call of ``fn``, timed over a loop lasting at least ``min_time``."""
    fn()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_time:
            return dt / n
        n *= 2 if dt < min_time / 8 else 4


Row = tuple[str, int, str, float, str]  # workload, threads, lib, value, unit

#: seconds to wait before timing a library: OpenMP runtimes keep their worker threads spinning
#: for a while after a parallel region (Intel's KMP_BLOCKTIME is 200 ms), which would steal the
#: cores from whichever library is timed next.
SETTLE = 0.3


def settle(lib: Lib, threads: int) -> None:
    """Set ``lib``'s thread count and let the previous library's threads go idle."""
    lib.set_threads(threads)
    time.sleep(SETTLE)


def workload_a(libs, threads, repeats, rows: list[Row], batches=(128, 1024)) -> dict:
    x, y = mnist_like()
    models = {}
    for batch in batches:
        runs = {}
        for lib in libs:
            lib.set_threads(threads)
            model, epoch = lib.train([784, 256, 256, 10], batch)
            epoch(x, y)  # warm-up epoch: compilation, caches, and the moments start to decay
            runs[lib.name] = (epoch, [])
            models[lib.name] = (lib, model)
        for _ in range(repeats):
            for lib in libs:
                settle(lib, threads)
                epoch, times = runs[lib.name]
                times.append(epoch(x, y))
        for name, (_, times) in runs.items():
            rows.append((f"a: MLP fit, batch {batch}", threads, name,
                         x.shape[0] / statistics.median(times), "samples/s"))
    return models


def workload_b(models, threads, repeats, rows: list[Row]) -> None:
    """Predict latency (1 row) and throughput (1024 rows) on real MNIST images (what the
    model serves; ~19% of their pixels are nonzero) and on dense random rows (no zeros to
    skip: the worst case for fastff's sparse-input path)."""
    images, _ = mnist_like(2048)
    inputs = {
        "MNIST images": (images[:1].copy(), images[1024:2048].copy()),
        "dense random": (np.random.default_rng(1).random((1, 784), dtype=np.float32),
                         np.random.default_rng(2).random((1024, 784), dtype=np.float32)),
    }
    for label, (x1, xk) in inputs.items():
        one: dict[str, list[float]] = {n: [] for n in models}
        many: dict[str, list[float]] = {n: [] for n in models}
        for _ in range(repeats):
            for name, (lib, model) in models.items():
                settle(lib, threads)
                run = lib.predictor(model)
                one[name].append(per_call(lambda run=run, x1=x1: run(x1)))
                many[name].append(per_call(lambda run=run, xk=xk: run(xk)))
        for name in models:
            rows.append((f"b: predict 1 row, {label}", threads, name,
                         statistics.median(one[name]) * 1e6, "µs"))
            rows.append((f"b: predict 1024 rows, {label}", threads, name,
                         1024 / statistics.median(many[name]), "samples/s"))


def workload_c(libs, threads, repeats, rows: list[Row]) -> None:
    xd, yd = digits()
    xor: dict[str, list[float]] = {}
    dig: dict[str, list[float]] = {}
    setups = {}
    for lib in libs:
        lib.set_threads(threads)
        _, xor_epoch = lib.train([2, 8, 1] if lib.name != "scikit-learn" else [2, 8, 2], 4,
                                 activation="tanh", lr=0.05)
        _, dig_epoch = lib.train([64, 32, 10], 32)
        xor_epoch(XOR_X, XOR_Y, 10)
        dig_epoch(xd, yd)
        setups[lib.name] = (lib, xor_epoch, dig_epoch)
        xor[lib.name], dig[lib.name] = [], []
    for _ in range(repeats):
        for name, (lib, xor_epoch, dig_epoch) in setups.items():
            settle(lib, threads)
            xor[name].append(xor_epoch(XOR_X, XOR_Y, 500) / 500)
            dig[name].append(dig_epoch(xd, yd, 5) / 5)
    for name in setups:
        rows.append(("c: XOR step (full batch)", threads, name,
                     statistics.median(xor[name]) * 1e6, "µs"))
        rows.append(("c: digits epoch (batch 32)", threads, name,
                     statistics.median(dig[name]) * 1e3, "ms"))


FIRST_FIT = textwrap.dedent("""
    import time, sys
    t0 = time.perf_counter()
    import fastff
    t_import = time.perf_counter() - t0
    sys.path.insert(0, {bench!r})
    from fit_vs_peers import FastFF, mnist_like
    x, y = mnist_like()
    lib = FastFF()
    lib.set_threads({threads})
    _, epoch = lib.train([784, 256, 256, 10], 128)
    first = epoch(x, y)
    second = epoch(x, y)
    print(t_import, first, second)
""")


def workload_d(threads, repeats, rows: list[Row]) -> None:
    code = FIRST_FIT.format(bench=str(Path(__file__).parent), threads=threads)
    env = dict(os.environ)
    results: dict[str, list[tuple[float, ...]]] = {"warm": [], "cold": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            for label in ("cold", "warm"):  # the cold run fills the cache the warm run reads
                env["NUMBA_CACHE_DIR"] = cache
                out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True, cwd=REPO).stdout
                results[label].append(tuple(float(v) for v in out.split()[-3:]))
    for label, vals in results.items():
        imp = statistics.median(v[0] for v in vals)
        extra = statistics.median(v[1] - v[2] for v in vals)
        rows.append((f"d: import fastff ({label} cache)", threads, "fastff", imp * 1e3, "ms"))
        rows.append((f"d: first fit beyond an epoch ({label})", threads, "fastff", extra, "s"))


def import_times(repeats: int, rows: list[Row]) -> None:
    for mod in ("fastff", "torch", "sklearn.neural_network"):
        vals = []
        for _ in range(repeats):
            code = f"import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if proc.returncode != 0:
                break
            vals.append(float(proc.stdout.split()[-1]))
        if vals:
            rows.append(("d: import", 0, mod.split(".")[0], statistics.median(vals) * 1e3, "ms"))


# ----------------------------------------------------------------------------- report
def report(rows: list[Row]) -> None:
    higher_better = {"samples/s"}
    ref = {(w, t): v for w, t, lib, v, _ in rows if lib == "pytorch"}
    print(f"\n{'workload':<42} {'thr':>3}  {'library':<18} {'median':>12} {'unit':<10} "
          f"{'vs PyTorch':>10}")
    print("-" * 96)
    for w, t, lib, v, unit in rows:
        r = ref.get((w, t))
        ratio = "" if r is None else (
            f"{v / r:.2f}x" if unit in higher_better else f"{r / v:.2f}x")
        value = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
        print(f"{w:<42} {t or '-':>3}  {lib:<18} {value:>12} {unit:<10} {ratio:>10}")
    print("\n'vs PyTorch' > 1 means fastff (or the peer) is faster than PyTorch eager.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-w", "--workloads", default="abcd", help="letters of the workloads to run")
    ap.add_argument("-t", "--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-l", "--libs", default="fastff,pytorch,pytorch-fused,scikit-learn")
    args = ap.parse_args(argv)
    libs = available_libs(args.libs.split(","))
    rows: list[Row] = []
    for threads in (int(t) for t in args.threads.split(",")):
        if "a" in args.workloads or "b" in args.workloads:
            models = workload_a(libs, threads, args.repeats, rows,
                                batches=(128, 1024) if "a" in args.workloads else (128,))
            if "b" in args.workloads:
                workload_b(models, threads, args.repeats, rows)
        if "c" in args.workloads:
            workload_c(libs, threads, args.repeats, rows)
        if "d" in args.workloads:
            workload_d(threads, max(1, args.repeats // 2), rows)
    if "d" in args.workloads:
        import_times(args.repeats, rows)
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
