"""Data-parallel scaling of ``fit`` over MPI: samples/s for 1 rank x 1 thread, 1 rank x 2
threads and 2 ranks x 1 thread, with the gradient all-reduce's share of the step time.

Models (Adam 1e-3, float32, synthetic MNIST-shaped rows, the global batch fixed so every
configuration computes the same training run):
  mlp   784-256-256-10,   batch 128 (the model of the Speed issue; 0.27 M params, 1.07 MB grads)
  wide  784-2048-2048-10, batch 256 (5.8 M params, 23.3 MB of gradient per step)

Each configuration runs in fresh processes (``mpirun`` for the 2-rank one): one warm-up epoch,
then timed epochs. ``sync`` is the wall time inside the gradient exchange (fit's sharded
update: ring reduce-scatter, the optimizer on this rank's slice, all-gather of the weights;
plus the wait for the slower rank); ``allreduce`` times the bare Allreduce of the flat
gradient buffer after a barrier, the network/memory cost alone.

A distributed ``fit`` runs the general training path (the compiled whole-epoch fast path does not
split the step at the gradient), so by default every configuration runs it
(``FASTFF_FASTPATH=0``): the same code, compared. ``--fastpath`` lets the single-rank
configurations use the compiled path, to see what a single process gets today.

    python benchmarks/scaling.py                  # both models, all three configurations
    python benchmarks/scaling.py -m wide -e 3     # one model, 3 timed epochs
    python benchmarks/scaling.py -r 1             # one repeat (default: best of 3)

On a shared machine the best of a few repeats is the least disturbed measurement.
Needs Open MPI (``mpirun``) and mpi4py (``pip install 'fastff[mpi]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = {"mlp": ([784, 256, 256, 10], 128, 16_384), "wide": ([784, 2048, 2048, 10], 256, 4_096)}
CONFIGS = [("1 rank x 1 thread", 1, 1), ("1 rank x 2 threads", 1, 2),
           ("2 ranks x 1 thread", 2, 1)]


def worker(model_name: str, epochs: int, threads: int, distributed: bool,
           batch: int | None = None, shard: bool = True) -> None:
    """One configuration (run inside each rank): prints one JSON line from rank 0."""
    import numpy as np

    import fastff
    from fastff import distribution, layers

    fastff.set_num_threads(threads)
    dist = None
    if distributed:
        dist = distribution.DataParallel(shard_optimizer=shard)
        distribution.set_distribution(dist)
    sizes, default_batch, n = MODELS[model_name]
    batch = batch or default_batch
    rng = np.random.default_rng(0)
    x = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=n)
    fastff.config.set_seed(0)
    model = fastff.Sequential([layers.Input((sizes[0],))]
                              + [layers.Dense(k, activation="relu") for k in sizes[1:-1]]
                              + [layers.Dense(sizes[-1], activation="softmax")])
    model.compile(optimizer=fastff.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    sync_time = [0.0]
    if dist is not None:  # time the gradient exchange hooks (+ waiting for the slower rank)
        def timed(inner):
            def hook(m, share):
                t = time.perf_counter()
                inner(m, share)
                sync_time[0] += time.perf_counter() - t
            return hook

        dist.sync_gradients = timed(dist.sync_gradients)
        dist.sharded_update = timed(dist.sharded_update)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: compile, first touch
    sync_time[0] = 0.0
    if dist is not None:
        dist.comm.Barrier()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    wall = time.perf_counter() - t0
    steps = epochs * -(-n // batch)
    out = {"samples_per_s": epochs * n / wall, "step_ms": 1e3 * wall / steps,
           "sync_share": sync_time[0] / wall, "grad_mb": model.n_trainable * 4 / 1e6}
    if dist is not None:  # the bare Allreduce of this gradient buffer
        g = model.grads[:model.n_trainable]
        reps = 10
        dist.comm.Barrier()
        t = time.perf_counter()
        for _ in range(reps):
            dist.comm.Allreduce(dist._MPI.IN_PLACE, g, op=dist._MPI.SUM)
        out["allreduce_ms"] = 1e3 * (time.perf_counter() - t) / reps
    if dist is None or dist.is_chief:
        print(json.dumps(out), flush=True)


def run_config(model_name: str, epochs: int, ranks: int, threads: int,
               fastpath: bool = False, batch: int | None = None, shard: bool = True) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "FASTFF_FASTPATH": "1" if fastpath and ranks == 1 else "0",
           "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    args = [sys.executable, __file__, "--worker", "-m", model_name, "-e", str(epochs),
            "-t", str(threads)]
    if batch:
        args += ["-b", str(batch)]
    if not shard:
        args.append("--no-shard")
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
        args = [mpirun, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", *args,
                "--distributed"]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", choices=[*MODELS, "all"], default="all")
    ap.add_argument("-e", "--epochs", type=int, default=2, help="timed epochs")
    ap.add_argument("-r", "--repeats", type=int, default=3,
                    help="runs per configuration; the fastest is reported")
    ap.add_argument("--fastpath", action="store_true",
                    help="let the 1-rank configurations use the compiled fast path")
    ap.add_argument("-b", "--batch", type=int, default=None,
                    help="global batch size (default: the model's, see above)")
    ap.add_argument("--no-shard", action="store_true",
                    help="2 ranks: one Allreduce and a full optimizer update on every rank")
    ap.add_argument("-t", "--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.model, a.epochs, a.threads, a.distributed, a.batch, not a.no_shard)
        return
    names = list(MODELS) if a.model == "all" else [a.model]
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    print(f"{'model':6} {'configuration':20} {'samples/s':>10} {'step ms':>8} {'speed-up':>8} "
          f"{'sync %':>7} {'allreduce ms':>12}  (batch {a.batch or 'default'})")
    for name in names:
        base = None
        for label, ranks, threads in CONFIGS:
            runs = [run_config(name, a.epochs, ranks, threads, a.fastpath, a.batch,
                               not a.no_shard) for _ in range(max(1, a.repeats))]
            r = max(runs, key=lambda run: run["samples_per_s"])
            base = base or r["samples_per_s"]
            ar = f"{r['allreduce_ms']:.2f}" if "allreduce_ms" in r else "-"
            sync = f"{100 * r['sync_share']:.1f}" if ranks > 1 else "-"
            print(f"{name:6} {label:20} {r['samples_per_s']:10.0f} {r['step_ms']:8.2f} "
                  f"{r['samples_per_s'] / base:7.2f}x {sync:>7} {ar:>12}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
