"""Training and inference speed of fastff beside JAX, ONNX Runtime, PyTorch and scikit-learn,
each library in a fresh process of its own, alternating round by round, with the machine's
FMA peak measured in the same run.

Workloads (issue "Speed, round two"):
  fit      784-256-256-10 ReLU MLP, Adam 1e-3, float32, batch 128 (and 1024 with -w fit1024):
           samples/s over timed epochs after a warm-up epoch. JAX runs twice: a jitted optax
           step per batch ("jax-step") and a whole epoch under ``lax.scan`` ("jax-scan").
  predict  that model's single-row latency and 1024-row throughput (fastff, ONNX Runtime,
           PyTorch ``inference_mode``, JAX jit)
  tiny     XOR 2-8-1 tanh step (full batch) and a digits 64-32-10 epoch (batch 32)
  first    ``import fastff`` and the first fit in a new process, warm and cold Numba cache

Configurations (``-c``): ``1`` and ``2`` threads on a quiet machine; ``2b`` / ``1b`` the same
while a busy-loop process pinned to one core runs (``--busy-core`` adds both). Thread pools of
several libraries in one process distort each other's timings, so every (library, config,
round) is a fresh process; rounds alternate the libraries. The FMA probe (16 independent
FMA chains per thread, AVX-512 where the CPU has it, else AVX2; compiled with the system C
compiler) runs on 1 and 2 threads at the start and the end of the run; each figure is then
reported as a fraction of its limit:

  fit      FMA-bound samples/s = peak / flops per sample, where a training step of this MLP
           costs 2*(784*256 + 256*256 + 256*10) flops forward, the same again for the weight
           gradients and 2*(256*256 + 256*10) for the input gradients of layers 2 and 3
           (the first layer's input gradient is not needed): 1.21 MFLOP per sample.
  predict  forward flops only (0.54 MFLOP per row).

Peers run from another interpreter (``--peer-python /work/bvenv/bin/python``) so they never
become fastff's dependencies. On machines that set ``OPENBLAS_CORETYPE`` (and
``OPENBLAS_L2_SIZE``), unset them in the benchmark command.

    python benchmarks/fit_vs_peers.py --peer-python /work/bvenv/bin/python --busy-core
    python benchmarks/fit_vs_peers.py -w fit -c 1,2 -l fastff,jax-step -r 5
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZES = [784, 256, 256, 10]
#: flops of one training step per sample (forward + weight grads + input grads of layers 2-3)
FWD_FLOPS = 2 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
TRAIN_FLOPS = 2 * FWD_FLOPS + 2 * sum(a * b for a, b in zip(SIZES[1:-1], SIZES[2:]))


# ----------------------------------------------------------------------------- data
def mnist_like(n: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST pixels (5k train subset + 10k test, tiled to ``n`` rows) scaled to [0, 1].

    Real images matter: their always-zero border pixels are what turns Adam's moments
    denormal (and what fastff's sparse-input path skips). Falls back to sparse synthetic
    images when the data set is absent. (Also used by asv_bench/benchmarks/bench_train.py.)
    """
    try:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
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


def make_data(kind: str, n: int, path: Path) -> None:
    """Write the training rows to ``path`` (.npz) for the worker processes: dense uniform
    rows (the issue's table), or MNIST-like images."""
    if kind == "mnist":
        x, y = mnist_like(n)
    else:
        rng = np.random.default_rng(0)
        x = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n)
    np.savez(path, x=np.ascontiguousarray(x), y=y.astype(np.int64))


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.int64)


# ----------------------------------------------------------------------------- libraries
class Lib:
    """One library's workloads, run inside a worker process; methods return seconds."""

    name = ""
    fits = True
    predicts = True

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
            self.name = "pytorch-fused"

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
    predicts = False

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


class Jax(Lib):
    """JAX + optax: ``mode="step"`` jits one Adam step and loops over batches in Python (data
    on the device, the batch gathered inside the step); ``mode="scan"`` jits a whole epoch
    (shuffle, gather, steps) under ``lax.scan``. Full batches only (a ragged last batch would
    compile a second program); samples/s counts the rows actually trained on."""

    def __init__(self, mode: str = "step") -> None:
        import jax
        import optax

        self.jax, self.optax, self.mode = jax, optax, mode
        self.name = f"jax-{mode}"
        self.predicts = mode == "step"

    def _params(self, sizes):
        rng = np.random.default_rng(0)
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            lim = np.sqrt(6.0 / (a + b))
            params.append((rng.uniform(-lim, lim, (a, b)).astype(np.float32),
                           np.zeros(b, np.float32)))
        return self.jax.device_put(params)

    def _forward(self, activation):
        jnp = self.jax.numpy
        act = {"relu": self.jax.nn.relu, "tanh": jnp.tanh}[activation]

        def forward(params, x):
            for w, b in params[:-1]:
                x = act(x @ w + b)
            w, b = params[-1]
            return x @ w + b

        return forward

    def train(self, sizes, batch, activation="relu", lr=1e-3):
        jax, optax = self.jax, self.optax
        forward = self._forward(activation)
        binary = sizes[-1] == 1

        def loss_fn(params, xb, yb):
            logits = forward(params, xb)
            if binary:
                return optax.sigmoid_binary_cross_entropy(logits[:, 0], yb).mean()
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        opt = optax.adam(lr)
        params = self._params(sizes)
        state = {"p": params, "o": opt.init(params), "key": jax.random.PRNGKey(0)}

        def step(p, o, X, Y, idx):
            xb, yb = X[idx], Y[idx]
            g = jax.grad(loss_fn)(p, xb, yb)
            updates, o = opt.update(g, o, p)
            return optax.apply_updates(p, updates), o

        jstep = jax.jit(step)

        def scan_epoch(p, o, X, Y, key):
            nb = X.shape[0] // batch
            perm = jax.random.permutation(key, X.shape[0])[:nb * batch].reshape(nb, batch)

            def body(carry, idx):
                return step(*carry, X, Y, idx), None

            (p, o), _ = jax.lax.scan(body, (p, o), perm)
            return p, o

        jscan = jax.jit(scan_epoch)
        dev: dict[int, tuple] = {}

        def epoch(x, y, epochs=1):
            if id(x) not in dev:
                dev.clear()
                yv = y.astype(np.float32) if binary else y.astype(np.int32)
                dev[id(x)] = (jax.device_put(x), jax.device_put(yv))
            X, Y = dev[id(x)]
            n = x.shape[0]
            nb = n // batch
            rng = np.random.default_rng(len(dev))
            t = time.perf_counter()
            p, o = state["p"], state["o"]
            for _ in range(epochs):
                if self.mode == "scan":
                    state["key"], sub = jax.random.split(state["key"])
                    p, o = jscan(p, o, X, Y, sub)
                else:
                    perm = rng.permutation(n)[:nb * batch].astype(np.int32).reshape(nb, batch)
                    for idx in perm:
                        p, o = jstep(p, o, X, Y, idx)
            jax.block_until_ready(p)
            state["p"], state["o"] = p, o
            return (time.perf_counter() - t) * n / (nb * batch)

        return state, epoch

    def predictor(self, model):
        jax = self.jax
        forward = self._forward("relu")
        run = jax.jit(lambda p, x: jax.nn.softmax(forward(p, x), axis=1))
        return lambda x: np.asarray(run(model["p"], x))


class OnnxRuntime(Lib):
    """ONNX Runtime predict of the same MLP (MatMul + Add + Relu, softmax), the graph built
    with ``onnx.helper`` from the same kind of random weights."""

    name = "onnxruntime"
    fits = False

    def __init__(self) -> None:
        import onnxruntime

        self.ort = onnxruntime
        self.threads = 1

    def set_threads(self, n: int) -> None:
        self.threads = n

    def model(self, sizes):
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        nodes, inits, prev = [], [], "x"
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lim = np.sqrt(6.0 / (a + b))
            inits += [numpy_helper.from_array(rng.uniform(-lim, lim, (a, b)).astype(np.float32),
                                              f"w{i}"),
                      numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
            nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                      helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
            prev = f"a{i}"
            if i < len(sizes) - 2:
                nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
                prev = f"r{i}"
        nodes.append(helper.make_node("Softmax", [prev], ["y"], axis=1))
        graph = helper.make_graph(
            nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         [None, sizes[0]])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, sizes[-1]])], inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        opts = self.ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        onnx.checker.check_model(m)
        return self.ort.InferenceSession(m.SerializeToString(), opts,
                                         providers=["CPUExecutionProvider"])

    def predictor(self, model):
        return lambda x: model.run(None, {"x": x})[0]


#: fastff variants for comparison: the threading back end and policy set by environment
FASTFF_VARIANTS = {
    "fastff": {},
    "fastff-fixed": {"FASTFF_ADAPTIVE_THREADS": "0"},  # pool, always the set thread count
    "fastff-omp": {"FASTFF_THREADING": "openmp", "FASTFF_ADAPTIVE_THREADS": "0"},
}

MAKERS: dict[str, Callable[[], Lib]] = {
    "fastff": FastFF, "fastff-fixed": FastFF, "fastff-omp": FastFF,
    "pytorch": Torch, "pytorch-fused": lambda: Torch(fused=True), "scikit-learn": SkLearn,
    "jax-step": lambda: Jax("step"), "jax-scan": lambda: Jax("scan"),
    "onnxruntime": OnnxRuntime,
}


# ----------------------------------------------------------------------------- measuring
def per_call(fn: Callable[[], object], min_time: float = 0.2) -> float:
    """Seconds per call of ``fn`` (best of 3 loops lasting at least ``min_time`` / 3)."""
    fn()
    n, best = 1, float("inf")
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_time / 3:
            break
        n *= 2 if dt < min_time / 24 else 4
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def job_fit(lib: Lib, data: Path, batch: int, epochs: int) -> list[dict]:
    d = np.load(data)
    x, y = d["x"], d["y"]
    _, epoch = lib.train(SIZES, batch)
    epoch(x, y)  # warm-up: compilation, caches
    c0 = time.process_time()
    wall = epoch(x, y, epochs)
    cpu = time.process_time() - c0
    return [{"what": f"fit, batch {batch}", "value": epochs * x.shape[0] / wall,
             "cpu_value": epochs * x.shape[0] / cpu, "unit": "samples/s"}]


def job_predict(lib: Lib) -> list[dict]:
    x1 = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    xk = np.random.default_rng(2).random((1024, 784), dtype=np.float32)
    if isinstance(lib, OnnxRuntime):
        model = lib.model(SIZES)
    else:
        d = np.random.default_rng(3)
        model, epoch = lib.train(SIZES, 128)
        epoch(d.random((512, 784), dtype=np.float32), d.integers(0, 10, 512))
    run = lib.predictor(model)
    return [{"what": "predict 1 row", "value": per_call(lambda: run(x1)) * 1e6, "unit": "µs"},
            {"what": "predict 1024 rows", "value": 1024 / per_call(lambda: run(xk)),
             "unit": "samples/s"}]


def job_tiny(lib: Lib) -> list[dict]:
    xd, yd = digits()
    _, xor_epoch = lib.train([2, 8, 1] if lib.name != "scikit-learn" else [2, 8, 2], 4,
                             activation="tanh", lr=0.05)
    _, dig_epoch = lib.train([64, 32, 10], 32)
    xor_epoch(XOR_X, XOR_Y, 10)
    dig_epoch(xd, yd)
    return [{"what": "XOR step (full batch)", "value": xor_epoch(XOR_X, XOR_Y, 500) / 500 * 1e6,
             "unit": "µs"},
            {"what": "digits epoch (batch 32)", "value": dig_epoch(xd, yd, 5) / 5 * 1e3,
             "unit": "ms"}]


def worker(args: argparse.Namespace) -> int:
    """Run one job for one library in this (fresh) process; print its rows as JSON."""
    lib = MAKERS[args.worker]()
    lib.set_threads(args.threads)
    if args.job.startswith("fit"):
        rows = job_fit(lib, Path(args.data_file), int(args.job[3:]), args.epochs)
    elif args.job == "predict":
        rows = job_predict(lib)
    else:
        rows = job_tiny(lib)
    print("ROWS " + json.dumps(rows))
    return 0


def thread_env(lib: str, threads: int) -> dict[str, str]:
    """Environment that holds a peer's native thread pools to ``threads``."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    if lib.startswith("jax"):
        env["JAX_PLATFORMS"] = "cpu"
        flags = env.get("XLA_FLAGS", "")
        if threads == 1:
            flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = flags.strip()
    env.update(FASTFF_VARIANTS.get(lib, {}))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_worker(py: str, lib: str, job: str, threads: int, data: Path, epochs: int,
               timeout: float) -> list[dict]:
    cmd = [py, str(Path(__file__).resolve()), "--worker", lib, "--job", job, "--threads",
           str(threads), "--data-file", str(data), "--epochs", str(epochs)]
    try:
        proc = subprocess.run(cmd, env=thread_env(lib, threads), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        print(f"# {lib} {job} {threads}t: timed out", file=sys.stderr)
        return []
    for line in proc.stdout.splitlines():
        if line.startswith("ROWS "):
            return json.loads(line[5:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    print(f"# {lib} {job} {threads}t failed: {' | '.join(tail)}", file=sys.stderr)
    return []


# ----------------------------------------------------------------------------- FMA probe
FMA_C = r"""
#include <immintrin.h>
#include <stdint.h>
#define R16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) \
    X(14) X(15)
#define DECL(V, I) V a##I = SET((float)I);
#define STEP(I) a##I = FMA(a##I, x, y);
#define SUM(I) s = ADD(s, a##I);
#define D(I) DECL(VT, I)
#define VT __m512
#define SET _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
__attribute__((target("avx512f"))) float fma512(int64_t iters) {
    const VT x = SET(0.999999f), y = SET(1e-7f); R16(D)
    for (int64_t t = 0; t < iters; t++) { R16(STEP) __asm__ volatile("" ::: "memory"); }
    VT s = SET(0.0f); R16(SUM) return _mm512_reduce_add_ps(s);
}
#undef VT
#undef SET
#undef FMA
#undef ADD
#define VT __m256
#define SET _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
__attribute__((target("avx2,fma"))) float fma256(int64_t iters) {
    const VT x = SET(0.999999f), y = SET(1e-7f); R16(D)
    for (int64_t t = 0; t < iters; t++) { R16(STEP) __asm__ volatile("" ::: "memory"); }
    VT s = SET(0.0f); R16(SUM) float o[8]; _mm256_storeu_ps(o, s); return o[0] + o[7];
}
"""


class FmaProbe:
    """16 independent FMA chains per thread (register-only; ctypes drops the GIL, so two
    Python threads run two chains sets at once). GFLOP/s = iterations * 16 * lanes * 2."""

    def __init__(self, workdir: Path) -> None:
        src, lib = workdir / "fma.c", workdir / "fma.so"
        src.write_text(FMA_C)
        subprocess.run([os.environ.get("CC", "cc"), "-O3", "-shared", "-fPIC", "-o", str(lib),
                        str(src)], check=True)
        self.lib = ctypes.CDLL(str(lib))
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        self.avx512 = " avx512f" in flags
        self.fn = self.lib.fma512 if self.avx512 else self.lib.fma256
        self.fn.restype = ctypes.c_float
        self.fn.argtypes = [ctypes.c_int64]
        self.lanes = 16 if self.avx512 else 8

    def gflops(self, threads: int, seconds: float = 0.3) -> tuple[float, float]:
        """(GFLOP/s over each thread's own CPU time, summed: what the cores deliver while
        running - the limit; GFLOP/s over wall time: what this machine gave just now)."""
        iters = 2_000_000
        self.fn(iters // 10)
        while True:  # size the run to about `seconds`
            t = time.thread_time()
            self.fn(iters)
            dt = time.thread_time() - t
            if dt > 0.05:
                break
            iters *= 4
        iters = int(iters * seconds / dt)
        flops = iters * 16 * self.lanes * 2
        best_cpu = best_wall = 0.0
        for _ in range(3):
            rates: list[float] = []

            def one(rates: list[float] = rates) -> None:
                t0 = time.thread_time()
                self.fn(iters)
                rates.append(flops / max(time.thread_time() - t0, 1e-9) / 1e9)

            ts = [threading.Thread(target=one) for _ in range(threads)]
            t = time.perf_counter()
            for th in ts:
                th.start()
            for th in ts:
                th.join()
            dt = time.perf_counter() - t
            best_cpu = max(best_cpu, sum(rates))
            best_wall = max(best_wall, threads * flops / dt / 1e9)
        return best_cpu, best_wall


# ----------------------------------------------------------------------------- busy core
class BusyCore:
    """A busy-loop process pinned to one core (the last this process may use)."""

    def __init__(self) -> None:
        self.cpu = max(os.sched_getaffinity(0))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> BusyCore:
        code = f"import os\nos.sched_setaffinity(0, {{{self.cpu}}})\nwhile True:\n    pass\n"
        self.proc = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


# ----------------------------------------------------------------------------- first fit
FIRST_FIT = textwrap.dedent("""
    import time, sys
    t0 = time.perf_counter()
    import fastff
    t_import = time.perf_counter() - t0
    sys.path.insert(0, {bench!r})
    import numpy as np
    from fit_vs_peers import FastFF
    d = np.load({data!r}); x, y = d["x"], d["y"]
    lib = FastFF()
    lib.set_threads({threads})
    _, epoch = lib.train([784, 256, 256, 10], 128)
    first = epoch(x, y)
    second = epoch(x, y)
    print(t_import, first, second)
""")


def first_fit(threads: int, repeats: int, data: Path) -> list[tuple]:
    code = FIRST_FIT.format(bench=str(Path(__file__).parent), threads=threads, data=str(data))
    env = thread_env("fastff", threads)
    results: dict[str, list[tuple[float, ...]]] = {"warm": [], "cold": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            for label in ("cold", "warm"):  # the cold run fills the cache the warm run reads
                env["NUMBA_CACHE_DIR"] = cache
                out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True, cwd=REPO).stdout
                results[label].append(tuple(float(v) for v in out.split()[-3:]))
    rows = []
    for label, vals in results.items():
        imp = statistics.median(v[0] for v in vals)
        extra = statistics.median(v[1] - v[2] for v in vals)
        rows.append((f"import fastff ({label} cache)", f"{threads}", "fastff", imp * 1e3, "ms"))
        rows.append((f"first fit beyond an epoch ({label})", f"{threads}", "fastff", extra, "s"))
    return rows


# ----------------------------------------------------------------------------- report
def limit_of(what: str, unit: str, peak: float) -> float | None:
    """The FMA-bound value of a row, in its unit (None when no limit applies)."""
    if what.startswith("fit"):
        return peak * 1e9 / TRAIN_FLOPS
    if what == "predict 1024 rows":
        return peak * 1e9 / FWD_FLOPS
    if what == "predict 1 row":
        return FWD_FLOPS / (peak * 1e9) * 1e6
    return None


def report(rows: list[tuple], peaks: dict[str, float], walls: dict[str, tuple[float, float]],
           avx512: bool, header: str) -> None:
    print(header)
    print(f"FMA peak ({'AVX-512' if avx512 else 'AVX2'}, 16 independent chains per thread, "
          "over the threads' CPU time, best of the start and end probes): " +
          ", ".join(f"{k} thread(s) {v:.0f} GFLOP/s" for k, v in peaks.items()))
    print("  the same over wall time (what the loaded machine gave), start / end: " +
          ", ".join(f"{k} thread(s) {a:.0f} / {b:.0f}" for k, (a, b) in walls.items()))
    print(f"limits: fit {TRAIN_FLOPS / 1e6:.3f} MFLOP/sample, predict {FWD_FLOPS / 1e6:.3f} "
          "MFLOP/row\n")
    print(f"{'workload':<34} {'config':>6}  {'library':<13} {'median':>10} {'range':>17} "
          f"{'unit':<10} {'of limit':>8} {'cpu-time':>10}")
    print("-" * 118)
    for what, cfg, lib, vals, cpu_vals, unit in rows:
        v = statistics.median(vals)
        lo, hi = min(vals), max(vals)
        nt = cfg.rstrip("b")
        peak = peaks.get(nt)
        lim = limit_of(what, unit, peak) if peak else None
        frac = "" if lim is None else f"{(v / lim if unit != 'µs' else lim / v):.2f}"
        fmt = (lambda z: f"{z:,.0f}") if v >= 100 else (lambda z: f"{z:.3g}")
        cpu = f"{statistics.median(cpu_vals):,.0f}" if cpu_vals else ""
        print(f"{what:<34} {cfg:>6}  {lib:<13} {fmt(v):>10} {fmt(lo) + '–' + fmt(hi):>17} "
              f"{unit:<10} {frac:>8} {cpu:>10}")
    print("\nconfig: threads; 'b' = a busy loop held one core. 'of limit': fraction of the "
          "FMA-bound figure\nat that thread count's measured peak (busy configs: against the "
          "quiet peak). cpu-time: samples/s\nover the process CPU time (meaningful for 1 "
          "thread on a loaded machine).")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-w", "--workloads", default="fit,predict",
                    help="comma list of fit, fit1024, predict, tiny, first")
    ap.add_argument("-c", "-t", "--configs", default="1,2",
                    help="comma list of thread counts; a 'b' suffix adds the busy core")
    ap.add_argument("--busy-core", action="store_true",
                    help="also run 2b and 1b: a busy-loop process pinned to one core")
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-e", "--epochs", type=int, default=2, help="timed epochs per fit sample")
    ap.add_argument("-n", "--rows", type=int, default=60_000, help="training rows")
    ap.add_argument("--data", default="dense", choices=["dense", "mnist"])
    ap.add_argument("-l", "--libs",
                    default="fastff,jax-step,jax-scan,onnxruntime,pytorch,scikit-learn",
                    help="comma list of " + ", ".join(MAKERS) + " (fastff-fixed: adaptive "
                    "thread policy off; fastff-omp: the OpenMP back end, policy off)")
    ap.add_argument("--peer-python", default=sys.executable,
                    help="interpreter with the peers installed (fastff runs in this one)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per worker process")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--data-file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if args.busy_core:
        configs += [c for c in ("2b", "1b") if c not in configs]
    workloads = [w.strip() for w in args.workloads.split(",")]
    if len(workloads) == 1 and workloads[0] and set(workloads[0]) <= set("abcd"):
        # the letters of the earlier version of this script
        letters = {"a": ["fit", "fit1024"], "b": ["predict"], "c": ["tiny"], "d": ["first"]}
        workloads = [w for ch in workloads[0] for w in letters[ch]]
    libs = [lib.strip() for lib in args.libs.split(",")]
    jobs = [w for w in workloads if w in ("fit", "fit1024", "predict", "tiny")]
    jobs = ["fit128" if j == "fit" else j for j in jobs]

    tmp = Path(tempfile.mkdtemp(prefix="fit_vs_peers_"))
    data = tmp / "train.npz"
    make_data(args.data, args.rows, data)
    probe = FmaProbe(tmp)
    start = {str(t): probe.gflops(t) for t in (1, 2)}
    header = (f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {platform.processor() or ''} "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"data {args.data} x {args.rows}; {args.rounds} rounds; fastff {sys.executable}; "
              f"peers {args.peer_python}")

    results: dict[tuple, tuple[list, list]] = {}
    order: list[tuple] = []
    for cfg in configs:
        threads, busy = int(cfg.rstrip("b")), cfg.endswith("b")
        for job in jobs:
            members = []
            for lib in libs:
                maker = MAKERS.get(lib)
                if maker is None:
                    continue
                cls_ok = {"fit128": lib != "onnxruntime", "fit1024": lib != "onnxruntime",
                          "predict": lib not in ("scikit-learn", "jax-scan", "pytorch-fused"),
                          "tiny": lib.startswith(("fastff", "pytorch")) or
                          lib == "scikit-learn"}[job]
                if cls_ok:
                    members.append(lib)
            for rnd in range(args.rounds):
                # alternate: rotate the order every round so no library always runs first
                rot = members[rnd % len(members):] + members[:rnd % len(members)]
                for lib in rot:
                    py = sys.executable if lib.startswith("fastff") else args.peer_python
                    if busy:
                        with BusyCore():
                            rows = run_worker(py, lib, job, threads, data, args.epochs,
                                              args.timeout)
                    else:
                        rows = run_worker(py, lib, job, threads, data, args.epochs,
                                          args.timeout)
                    for r in rows:
                        key = (r["what"], cfg, lib, r["unit"])
                        if key not in results:
                            results[key] = ([], [])
                            order.append(key)
                        results[key][0].append(r["value"])
                        if "cpu_value" in r:
                            results[key][1].append(r["cpu_value"])
                    print(f"# {cfg} {job} round {rnd + 1}: {lib} "
                          + " ".join(f"{r['value']:.4g}" for r in rows), file=sys.stderr)
    end = {str(t): probe.gflops(t) for t in (1, 2)}
    peaks = {t: max(start[t][0], end[t][0]) for t in start}
    walls = {t: (start[t][1], end[t][1]) for t in start}
    rows = [(w, cfg, lib, *results[(w, cfg, lib, u)], u) for w, cfg, lib, u in order]
    if "first" in workloads:
        for what, cfg, lib, v, unit in first_fit(1, max(1, args.rounds // 2), data):
            rows.append((what, cfg, lib, [v], [], unit))
    report(rows, peaks, walls, probe.avx512,
           header + f"; load average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
