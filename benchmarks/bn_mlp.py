"""Training speed of a 784-256-BN-256-BN-10 MLP against the same net without BatchNormalization.

Both nets: ReLU Dense layers (BatchNormalization after each hidden one in the first), softmax
output, sparse categorical cross-entropy, Adam, batch 128, on MNIST-like rows
(``fit_vs_peers.mnist_like``). Each sample is one epoch of ``fit`` over ``--rows`` rows
after a warm-up epoch (compiles excluded); samples alternate between the nets and medians are
reported, as samples/s and as the BN net's fraction of the plain net's speed. The plain net is
timed on the compiled path (``fastff.fastpath``, what ``fit`` picks for a Dense stack) and on
the general path; the BN net runs on whichever path ``fit`` picks for it (printed).

    python benchmarks/bn_mlp.py [-r REPEATS] [-t THREADS] [--rows N] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import statistics
import time

from fit_vs_peers import mnist_like  # the sibling benchmark script


def build(bn: bool):
    import fastff
    from fastff import layers

    stack = [layers.Input((784,))]
    for _ in range(2):
        stack.append(layers.Dense(256, activation="relu"))
        if bn:
            stack.append(layers.BatchNormalization())
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
    args = ap.parse_args(argv)
    import fastff

    try:  # the compiled engine's module (fastff.fastpath before the training package)
        from fastff.training import compiled as fastpath
    except ImportError:
        from fastff import fastpath
    fastff.set_num_threads(args.threads)
    fastff.utils.set_random_seed(0)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    x, y = mnist_like(args.rows)
    nets = {"plain, compiled path": (build(False), True),
            "plain, general path": (build(False), False),
            "BN, as fit picks": (build(True), True)}
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
    bn = rate["BN, as fit picks"]
    print(f"BN / plain (compiled): {bn / rate['plain, compiled path']:.2f}x   "
          f"BN / plain (general): {bn / rate['plain, general path']:.2f}x   (target >= 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
