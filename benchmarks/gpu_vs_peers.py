"""fastff's CUDA backend against cuBLAS / PyTorch CUDA, measured in one run.

    python benchmarks/gpu_vs_peers.py [--repeats 7] [--quick] [--json out.json]
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_vs_peers.py --smoke   # logic check, no GPU

1. GEMM (float32): ``CudaOps.gemm`` vs ``torch.matmul`` (cuBLAS, TF32 off) at 4096³ and at the
   shapes of a 784-256-256-10 MLP step (forward x·W, backward xᵀ·dz and dz·Wᵀ), device arrays
   on both sides, outputs preallocated. Results are checked against each other first.
2. MLP 784-256-256-10 (relu, softmax cross-entropy, Adam) at batch 128 and 1024 on 60,000
   synthetic MNIST-sized samples resident on the GPU:
   - ``fastff device step``: one training step written with CudaOps calls on device buffers
     (params and grads in one flat buffer, the Adam update one kernel) - what the backend gives
     a training loop that keeps everything on the device;
   - ``fastff fit``: ``Sequential.fit`` on the CUDA device (``fastff.set_device("cuda")`` when
     the device is registered, else the model's ops overridden with CudaOps);
   - ``torch``: ``nn.Sequential`` + ``CrossEntropyLoss`` + ``torch.optim.Adam``, same batches;
   and predict throughput for each.
Every figure is the median of ``--repeats`` timed runs after a warm-up; ratios are
fastff/peer for times (lower is better) and fastff/peer for throughputs (higher is better).
Exits with status 2 and a message when no usable CUDA GPU is present. ``--smoke`` shrinks
every shape (a 20-16-16-10 MLP, 64 samples) and accepts the CUDA simulator: it checks the
script, not the speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SIZES = (784, 256, 256, 10)
N_TRAIN = 60_000
BATCHES = (128, 1024)
SMOKE = False


def median_time(fn: Callable[[], Any], sync: Callable[[], None], repeats: int,
                warmup: int = 2) -> float:
    """Median wall time of ``fn()`` (synchronised before and after each run)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_torch() -> Any:
    """PyTorch with CUDA and TF32 off, or None."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - optional peer
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


# ----------------------------------------------------------------------------- GEMM
def gemm_cases(quick: bool) -> list[tuple[str, int, int, int, bool, bool]]:
    """(label, m, n, k, trans_a, trans_b): op(A) is m x k, op(B) is k x n."""
    if SMOKE:
        return [("smoke 9x7x5", 9, 7, 5, False, False), ("smoke 9x7x5 T", 9, 7, 5, True, True)]
    cases = []
    for batch in (128, 1024):
        cases += [
            (f"fwd  x·W1    b={batch}", batch, 256, 784, False, False),
            (f"bwd  xᵀ·dz   b={batch}", 784, 256, batch, True, False),
            (f"bwd  dz·W2ᵀ  b={batch}", batch, 256, 256, False, True),
        ]
    cases.append(("square 1024³", 1024, 1024, 1024, False, False))
    if not quick:
        cases.append(("square 4096³", 4096, 4096, 4096, False, False))
    return cases


def bench_gemm_case(ops: Any, torch: Any, repeats: int, case: tuple, rng: Any) -> dict:
    """One GEMM shape: fastff (and cuBLAS through torch), checked against each other."""
    from numba import cuda

    label, m, n, k, ta, tb = case
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    da, db = ops.to_device(a), ops.to_device(b)
    dc = ops.alloc((m, n), np.float32)
    ours = median_time(lambda: ops.gemm(da, db, dc, trans_a=ta, trans_b=tb), cuda.synchronize,
                       repeats)
    flops = 2.0 * m * n * k
    row = {"case": label, "fastff_s": ours, "fastff_tflops": flops / ours / 1e12}
    if torch is not None:
        at, bt = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        tc = torch.empty((m, n), device="cuda")
        opa = at.t() if ta else at
        opb = bt.t() if tb else bt
        theirs = median_time(lambda: torch.matmul(opa, opb, out=tc), torch.cuda.synchronize,
                             repeats)
        ref = tc.cpu().numpy()
        err = float(np.max(np.abs(ops.to_numpy(dc) - ref)) / (np.max(np.abs(ref)) + 1e-30))
        row.update(torch_s=theirs, torch_tflops=flops / theirs / 1e12,
                   speed_vs_cublas=theirs / ours, max_rel_err=err)
    return row


def bench_gemm(ops: Any, torch: Any, repeats: int, quick: bool) -> list[dict]:
    rng = np.random.default_rng(0)
    return [bench_gemm_case(ops, torch, repeats, case, rng) for case in gemm_cases(quick)]


# ------------------------------------------------------------------------------ MLP
def synthetic_data(n: int = N_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return x, y


class DeviceMLP:
    """The 784-256-256-10 MLP trained with CudaOps calls on device buffers only."""

    def __init__(self, ops: Any, batch: int, lr: float = 1e-3) -> None:
        self.ops = ops
        self.batch = batch
        self.lr = lr
        rng = np.random.default_rng(2)
        shapes = []
        for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
            shapes += [(fan_in, fan_out), (fan_out,)]
        sizes = [int(np.prod(s)) for s in shapes]
        offs = [int(v) for v in np.cumsum([0, *sizes])]
        host = np.zeros(offs[-1], np.float32)
        for i, s in enumerate(shapes):
            if len(s) == 2:
                lim = np.sqrt(6.0 / sum(s))
                host[offs[i]:offs[i + 1]] = rng.uniform(-lim, lim, sizes[i])
        self.params = ops.to_device(host)
        self.grads = ops.alloc(host.size, np.float32)
        self.m = ops.alloc(host.size, np.float32)
        self.v = ops.alloc(host.size, np.float32)
        self.pw = [self.params[offs[i]:offs[i + 1]].reshape(s) for i, s in enumerate(shapes)]
        self.gw = [self.grads[offs[i]:offs[i + 1]].reshape(s) for i, s in enumerate(shapes)]
        self.acts = [ops.alloc((batch, f), np.float32) for f in SIZES[1:]]
        self.deltas = [ops.alloc((batch, f), np.float32) for f in SIZES[1:]]
        self.step_no = 0

    def forward(self, x: Any, acts: list[Any]) -> list[Any]:
        """Hidden activations and logits (softmax is fused into the loss)."""
        ops, pw = self.ops, self.pw
        h = x
        for layer in range(3):
            act = "relu" if layer < 2 else "linear"
            h = ops.dense(h, pw[2 * layer], pw[2 * layer + 1], act, out=acts[layer])
        return acts

    def train_step(self, x: Any, y: Any) -> None:
        ops, pw, gw = self.ops, self.pw, self.gw
        h1, h2, z = self.forward(x, self.acts)
        _, dz = ops.softmax_xent_sparse(z, y, dlogits=self.deltas[2])
        dh2 = ops.backprop_dense(dz, h2, pw[4], gw[4], gw[5], dx=self.deltas[1])
        dh1 = ops.backprop_dense(dh2, h1, pw[2], gw[2], gw[3], dx=self.deltas[0],
                                 activation="relu", y=h2, work=self.deltas[1])
        ops.backprop_dense(dh1, x, pw[0], gw[0], gw[1], dx=False, activation="relu", y=h1,
                           work=self.deltas[0])
        self.step_no += 1
        ops.adam_step(self.params, self.grads, self.m, self.v, None, self.lr, step=self.step_no)

    def epoch(self, xd: Any, yd: Any, n: int) -> None:
        b = self.batch
        for s in range(0, n - b + 1, b):
            self.train_step(xd[s:s + b], yd[s:s + b])

    def predict(self, xd: Any, n: int) -> None:
        b = self.batch
        for s in range(0, n - b + 1, b):
            self.forward(xd[s:s + b], self.acts)


def fastff_model(ops: Any) -> Any:
    """A compiled fastff Sequential on the CUDA device (or with its ops overridden)."""
    import fastff
    from fastff.layers import Dense
    from fastff.models import Sequential

    device = "override"
    try:
        fastff.set_device("cuda")
        device = "set_device('cuda')"
    except Exception:  # noqa: BLE001 - device not registered yet
        pass
    model = Sequential([Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],)),
                        Dense(SIZES[2], activation="relu"),
                        Dense(SIZES[3], activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    if device == "override":
        model.ops = ops
    return model, device


def torch_mlp(torch: Any) -> tuple[Any, Any, Any]:
    nn = torch.nn
    model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(),
                          nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                          nn.Linear(SIZES[2], SIZES[3])).cuda()
    return model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)


def bench_mlp_batch(ops: Any, torch: Any, repeats: int, data: tuple, batch: int) -> dict:
    """fit/predict throughput at one batch size: device step, Sequential, torch."""
    from numba import cuda

    x, y, xd, yd = data
    n = x.shape[0]
    used = (n // batch) * batch
    row: dict[str, Any] = {"batch": batch, "samples": used}
    mlp = DeviceMLP(ops, batch)
    row["fastff_device_fit_sps"] = used / median_time(
        lambda: mlp.epoch(xd, yd, n), cuda.synchronize, repeats, 1)
    row["fastff_device_predict_sps"] = used / median_time(
        lambda: mlp.predict(xd, n), cuda.synchronize, repeats, 1)

    try:
        model, how = fastff_model(ops)
        reps = max(1, min(repeats, 3))
        row["fastff_fit_sps"] = used / median_time(
            lambda: model.fit(x[:used], y[:used], batch_size=batch, epochs=1, shuffle=False,
                              verbose=0), cuda.synchronize, reps, 1)
        row["fastff_predict_sps"] = used / median_time(
            lambda: model.predict(x[:used], batch_size=batch, verbose=0), cuda.synchronize,
            reps, 1)
        row["fastff_fit_device"] = how
    except Exception as exc:  # noqa: BLE001 - report, keep measuring the rest
        row["fastff_fit_error"] = f"{exc.__class__.__name__}: {exc}"

    if torch is not None:
        tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
        tmodel, loss_fn, opt = torch_mlp(torch)

        def t_epoch() -> None:
            for s in range(0, used, batch):
                opt.zero_grad(set_to_none=True)
                loss_fn(tmodel(tx[s:s + batch]), ty[s:s + batch]).backward()
                opt.step()

        def t_predict() -> None:
            with torch.inference_mode():
                for s in range(0, used, batch):
                    tmodel(tx[s:s + batch])

        sync = torch.cuda.synchronize
        row["torch_fit_sps"] = used / median_time(t_epoch, sync, repeats, 1)
        row["torch_predict_sps"] = used / median_time(t_predict, sync, repeats, 1)
        for what in ("fit", "predict"):
            peer = row[f"torch_{what}_sps"]
            row[f"device_{what}_vs_torch"] = row[f"fastff_device_{what}_sps"] / peer
            if f"fastff_{what}_sps" in row:
                row[f"{what}_vs_torch"] = row[f"fastff_{what}_sps"] / peer
    return row


def bench_mlp(ops: Any, torch: Any, repeats: int, quick: bool) -> list[dict]:
    n = 8192 if quick and not SMOKE else N_TRAIN
    x, y = synthetic_data(n)
    data = (x, y, ops.to_device(x), ops.to_device(y))
    return [bench_mlp_batch(ops, torch, repeats, data, batch) for batch in BATCHES]


# ---------------------------------------------------------------------------- report
def print_gemm(rows: list[dict]) -> None:
    print("\nGEMM float32 (median time, TFLOP/s; ratio = cuBLAS time / fastff time)")
    print(f"{'case':<22}{'fastff ms':>11}{'TFLOP/s':>9}{'cuBLAS ms':>11}{'TFLOP/s':>9}"
          f"{'ratio':>8}{'rel err':>10}")
    for r in rows:
        line = f"{r['case']:<22}{r['fastff_s'] * 1e3:>11.3f}{r['fastff_tflops']:>9.2f}"
        if "torch_s" in r:
            line += (f"{r['torch_s'] * 1e3:>11.3f}{r['torch_tflops']:>9.2f}"
                     f"{r['speed_vs_cublas']:>8.2f}{r['max_rel_err']:>10.1e}")
        print(line)


def print_mlp(rows: list[dict]) -> None:
    print(f"\nMLP {'-'.join(map(str, SIZES))}, Adam (samples/s; ratio = fastff / torch)")
    for r in rows:
        print(f"batch {r['batch']} ({r['samples']} samples)")
        for what in ("fit", "predict"):
            parts = [f"  {what:<8} fastff device step {r[f'fastff_device_{what}_sps']:>12,.0f}"]
            if f"fastff_{what}_sps" in r:
                parts.append(f"Sequential {r[f'fastff_{what}_sps']:>12,.0f}")
            if f"torch_{what}_sps" in r:
                parts.append(f"torch {r[f'torch_{what}_sps']:>12,.0f}")
                parts.append(f"ratio device {r[f'device_{what}_vs_torch']:.2f}")
                if f"{what}_vs_torch" in r:
                    parts.append(f"Sequential {r[f'{what}_vs_torch']:.2f}")
            print("  ".join(parts))
        if "fastff_fit_error" in r:
            print(f"  Sequential on CUDA failed: {r['fastff_fit_error']}")
        elif "fastff_fit_device" in r:
            print(f"  (Sequential device via {r['fastff_fit_device']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="skip 4096³ and train on 8192 samples (a smoke run)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny shapes, simulator allowed: checks the script only")
    args = parser.parse_args(argv)

    from fastff.backend.cuda import device_info, is_available, make_ops

    if args.smoke:
        global SIZES, N_TRAIN, BATCHES, SMOKE
        SIZES, N_TRAIN, BATCHES, SMOKE = (20, 16, 16, 10), 64, (16, 32), True
        args.repeats = 1
    if not is_available(allow_simulator=args.smoke):
        info = device_info()
        print(f"gpu_vs_peers: no usable CUDA GPU ({info.get('reason', 'unknown reason')}); "
              "nothing measured.", file=sys.stderr)
        return 2
    info = device_info()
    torch = None if info.get("simulator") else load_torch()
    print(f"GPU: {info.get('name')} (cc {info.get('compute_capability')}, "
          f"{info.get('memory_total', 0) / 2**30:.1f} GiB), driver {info.get('driver')}, "
          f"runtime {info.get('runtime')}, numba-cuda {info.get('numba_cuda')}")
    print("peer: " + (f"torch {torch.__version__} (TF32 off)" if torch else
                      "PyTorch with CUDA not available: fastff numbers only"))
    ops = make_ops()
    results = {"device": info, "gemm": bench_gemm(ops, torch, args.repeats, args.quick)}
    print_gemm(results["gemm"])
    results["mlp"] = bench_mlp(ops, torch, args.repeats, args.quick)
    print_mlp(results["mlp"])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
