"""Where one training step of the 784-256-256-10 MLP (Adam, batch 128) spends its time.

Times each kernel of the compiled step on its own (the same calls with the same shapes:
row gather, 3 forward GEMMs, loss, 2 activation-derivative + bias passes, the backward GEMMs
as the step issues them - each hidden layer's weight and input gradient recorded as one
batch, one parallel call - the Adam pass over the flat buffer) and the whole compiled step,
alternating repeats and taking medians. "other" = whole step - sum of the parts (call and
loop overhead). GFLOP/s: the part's dense flops over its time. Also times the general
path's step for comparison. ``-d 1`` gives dense rows (fit_vs_peers.py's default data);
the default 0.2 is MNIST-like (the sparse-A entry then skips the input's zeros).

    python benchmarks/step_breakdown.py [-t THREADS] [-r REPEATS] [-d DENSITY]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import fit_vs_peers  # the sibling benchmark script
import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-r", "--repeats", type=int, default=5)
    ap.add_argument("--clock", choices=["wall", "process"], default="wall",
                    help="process: CPU time of the process (for -t 1 on a loaded machine: the "
                    "time the step ran, not the time others held the core)")
    ap.add_argument("-d", "--density", type=float, default=0.2,
                    help="fraction of nonzero input pixels")
    args = ap.parse_args(argv)
    import fastff
    from fastff import layers
    from fastff._core import ffi, lib
    from fastff.backend.kernels import activations as K_act
    from fastff.backend.kernels import optim as K_opt
    from fastff.backend.kernels import reductions as K_red
    from fastff.backend.kernels import softmax as K_sm
    from fastff.backend.kernels import train_step
    from fastff.linalg import gemm_into
    from fastff.training import compiled as fastpath

    fastff.set_num_threads(args.threads)
    if args.clock == "process":
        fit_vs_peers.time.perf_counter = time.process_time  # what per_call reads
    per_call = fit_vs_peers.per_call
    B = 128
    rng = np.random.default_rng(0)
    n = 60_000
    X = (rng.random((n, 784)) * (rng.random((n, 784)) < args.density)).astype(np.float32)
    Y = rng.integers(0, 10, n)
    model = fastff.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                               layers.Dense(256, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X[:1024], Y[:1024], batch_size=B, epochs=1, verbose=0)
    f32 = np.float32
    x = X[:B].copy()
    w = [la.kernel.value for la in model.layers]
    b = [la.bias.value for la in model.layers]
    dw = [np.empty_like(a) for a in w]
    db = [np.empty_like(a) for a in b]
    h = [np.empty((B, a.shape[1]), f32) for a in w]
    g = [np.empty_like(a) for a in h]
    dh = [np.empty((B, a.shape[0]), f32) for a in w]
    loss = np.empty(B, f32)
    dz = np.empty((B, 10), f32)
    lab = Y[:B].copy()
    perm = rng.permutation(n)
    p, gr = model.params[:model.n_trainable], model.grads[:model.n_trainable]
    empty = np.empty(0, f32)
    t = f32

    def batch(*calls):
        lib.fastff_batch_begin()
        for call in calls:
            call()
        return lib.fastff_batch_end()

    plan = fastpath.train_plan(model, B)
    code, (b0, b1, b2), ocon = plan.opt_code, plan.bufs, plan.ocon
    fn = ffi.cast("void *", train_step.opt_piece(code, np.float32))
    keep = (p, gr, b0, b1, b2, ocon)
    ptrs = np.array([a.ctypes.data for a in keep], np.uintp)
    sizes = np.array([a.size for a in keep], np.int64)
    scal = np.array([float(np.float32(1e-3)), 0.0, 1.0])
    pr_args = (fn, ffi.cast("void *const *", ptrs.ctypes.data),
            ffi.cast("int64_t *", sizes.ctypes.data), ffi.cast("double *", scal.ctypes.data),
            p.size, train_step.OPT_ALIGN)

    serial = K_opt.range_kernel(code)

    def adam():
        if p.size >= train_step.OPT_PAR_MIN and args.threads > 1:
            return lib.fastff_parallel_range(*pr_args)
        return serial(p, gr, b0, b1, b2, ocon, t(1e-3), t(0), t(1), 0, p.size)
    d1, h1 = 784 * 256, 256 * 256
    flops = {"GEMM forward (3)": 2 * B * (d1 + h1 + 2560),
             "GEMM dW3 + dX3 (1 call)": 4 * B * 2560, "GEMM dW2 + dX2 (1 call)": 4 * B * h1,
             "GEMM dW1": 2 * B * d1}
    parts = {
        "gather 128 rows": lambda: np.take(X, perm[:B], axis=0, out=x),
        # the step's forward and weight-gradient GEMMs use the sparse-A entry (layer inputs)
        "GEMM forward (3)": lambda: [gemm_into(a, w[k], h[k], False, False, 1.0, 0.0, b[k],
                                               1 if k < 2 else 0, 0.0, True)
                                     for k, a in enumerate((x, h[0], h[1]))],
        "softmax-xent": lambda: K_sm.softmax_xent_sparse(h[2], lab, empty, t(1 / B), loss, dz),
        "act' + bias grads (3)": lambda: (
            K_red.bias_grad(dz, db[2]),
            K_act.act_backward_bias(dh[2], h[1], g[1], db[1], 1, t(0)),
            K_act.act_backward_bias(dh[1], h[0], g[0], db[0], 1, t(0))),
        "GEMM dW3 + dX3 (1 call)": lambda: batch(
            lambda: gemm_into(h[1], dz, dw[2], True, False, 1.0, 0.0, None, 0, 0.0, True),
            lambda: gemm_into(dz, w[2], dh[2], False, True)),
        "GEMM dW2 + dX2 (1 call)": lambda: batch(
            lambda: gemm_into(h[0], g[1], dw[1], True, False, 1.0, 0.0, None, 0, 0.0, True),
            lambda: gemm_into(g[1], w[1], dh[1], False, True)),
        "GEMM dW1": lambda: gemm_into(x, g[0], dw[0], True, False, 1.0, 0.0, None, 0, 0.0,
                                      True),
        # as the step runs it: split over the C core's threads from OPT_PAR_MIN values on
        "Adam over 269k params": adam,
    }
    run = fastpath.CompiledEngine(model, plan, X, Y, B, True)
    totals = np.zeros(1)
    counter = [0]

    def whole():
        counter[0] = (counter[0] + 1) % 400
        run(0, 1, counter[0], counter[0] + 1, totals)

    def general():
        from fastff.training.general import train_step as _train_step

        s = counter[0] * B
        counter[0] = (counter[0] + 1) % 400
        _train_step(model, X[s:s + B], Y[s:s + B], None, False)

    times: dict[str, list[float]] = {k: [] for k in [*parts, "compiled step", "general step"]}
    for _ in range(args.repeats):
        for k, fn in parts.items():
            times[k].append(per_call(fn, 0.05))
        times["compiled step"].append(per_call(whole, 0.05))
        times["general step"].append(per_call(general, 0.05))
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    step = med["compiled step"]
    gemm = sum(v for k, v in med.items() if k.startswith("GEMM"))
    print(f"# threads {args.threads}, load average {os.getloadavg()[0]:.2f}, "
          f"medians of {args.repeats}, input density {args.density}, {args.clock} clock")
    print(f"{'part':<26}{'µs':>10}{'% of step':>11}{'GFLOP/s':>9}")
    for k in parts:
        rate = f"{flops[k] / med[k] / 1e3:9.1f}" if k in flops else ""
        print(f"{k:<26}{med[k]:>10.1f}{100 * med[k] / step:>10.1f}%{rate}")
    other = step - sum(med[k] for k in parts)
    print(f"{'other (calls, loops)':<26}{other:>10.1f}{100 * other / step:>10.1f}%")
    print(f"{'compiled step':<26}{step:>10.1f}   (GEMMs {100 * gemm / step:.0f}%, "
          f"{B / step * 1e6:,.0f} samples/s)")
    print(f"{'general-path step':<26}{med['general step']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
