"""Training speed of 784-256-BN-256-BN-10 and 784-256-LN-256-LN-10 MLPs against the same net
without normalization.

All nets: ReLU Dense layers (BatchNormalization or LayerNormalization after each hidden one),
softmax output, sparse categorical cross-entropy, Adam, batch 128, on MNIST-like rows
(``fit_vs_peers.mnist_like``). Each sample is one epoch of ``fit`` over ``--rows`` rows
after a warm-up epoch (compiles excluded); samples alternate between the nets and medians are
reported, as samples/s and as each normalized net's fraction of the plain net's speed. The
plain net is timed on the compiled path (``fastff.training.compiled``, what ``fit`` picks for
a Dense stack) and on the general path; the normalized nets run on whichever path ``fit``
picks for them (printed).

    python benchmarks/bn_mlp.py [-r REPEATS] [-t THREADS] [--rows N] [--clock cpu|wall]
        [--norms bn,ln]
"""

from __future__ import annotations

import argparse
import statistics
import time

from fit_vs_peers import mnist_like  # the sibling benchmark script


def build(norm: str | None):
    """The MLP with ``norm`` ("bn", "ln" or None) after each hidden Dense."""
    import fastff
    from fastff import layers

    stack = [layers.Input((784,))]
    for _ in range(2):
        stack.append(layers.Dense(256, activation="relu"))
        if norm == "bn":
            stack.append(layers.BatchNormalization())
        elif norm == "ln":
            stack.append(layers.LayerNormalization())
    stack.append(layers.Dense(10, activation="softmax"))
    model = fastff.Sequential(stack)
    model.compile(optimizer=fastff.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="wall")
    ap.add_argument("--norms", default="bn,ln", help="normalized nets to time: bn, ln or both")
    args = ap.parse_args(argv)
    norms = [n for n in args.norms.split(",") if n]
    import fastff

    try:  # the compiled engine's module (fastff.fastpath before the training package)
        from fastff.training import compiled as fastpath
    except ImportError:
        from fastff import fastpath
    fastff.set_num_threads(args.threads)
    fastff.utils.set_random_seed(0)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    x, y = mnist_like(args.rows)
    nets = {"plain, compiled path": (build(None), True),
            "plain, general path": (build(None), False)}
    for norm in norms:
        nets[f"{norm.upper()}, as fit picks"] = (build(norm), True)
    paths = {}

    def epoch(name: str) -> float:
        model, compiled = nets[name]
        fastpath.ENABLED = compiled
        try:
            paths[name] = "compiled" if fastpath.train_plan(model, args.batch) else "general"
            t = clock()
            model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
            return clock() - t
        finally:
            fastpath.ENABLED = True

    for name in nets:
        epoch(name)  # warm-up: build, compile, first-touch
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(args.repeats):
        for name in nets:
            times[name].append(epoch(name))
    rate = {name: args.rows / statistics.median(v) for name, v in times.items()}
    print(f"{args.rows} rows, batch {args.batch}, threads {args.threads}, clock {args.clock}, "
          f"median of {args.repeats} epochs")
    print(f"{'net':<24}{'path':<10}{'samples/s':>12}")
    for name in nets:
        print(f"{name:<24}{paths[name]:<10}{rate[name]:>12.0f}")
    for norm in norms:
        r = rate[f"{norm.upper()}, as fit picks"]
        print(f"{norm.upper()} / plain (compiled): {r / rate['plain, compiled path']:.2f}x   "
              f"{norm.upper()} / plain (general): {r / rate['plain, general path']:.2f}x   "
              f"(target >= 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
