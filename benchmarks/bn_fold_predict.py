"""Would folding BatchNormalization into the Dense before it pay in ``predict``?

A 784-256-BN-256-BN-10 MLP (``Dense -> BatchNormalization -> ReLU`` twice, softmax output,
moving statistics away from their initial 0 / 1) against the same net with each
BatchNormalization folded into its Dense (``fastff.export._graph.FoldedDense``: the weights
the exporters write, ``W·γ/√(var+ε)`` and ``(b − mean)·γ/√(var+ε) + β``, computed in float64;
the ReLU then fuses into the Dense). ``predict`` on 1 row and on 1024 rows. The folded net
also runs with the compiled path off (``fastff.training.compiled.ENABLED = False``), which
parts the arithmetic saved from the change of path (both nets lower now; so does the folded
one). Each sample is the median time of ``--calls`` calls (a tenth of them for 1024
rows); samples alternate between the nets; the median of ``--repeats`` samples is reported
with the outputs' largest difference.

    python benchmarks/bn_fold_predict.py [-r REPEATS] [-t THREADS] [--calls N] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def build(fold_from=None):
    """The BN net, or (``fold_from``: a built BN net) the folded one with its weights."""
    import fastff
    from fastff import layers
    from fastff.export._graph import FoldedDense

    if fold_from is None:
        stack = [layers.Input((784,))]
        for _ in range(2):
            stack += [layers.Dense(256), layers.BatchNormalization(), layers.Activation("relu")]
        stack.append(layers.Dense(10, activation="softmax"))
        model = fastff.Sequential(stack)
        model.build()
        rng = np.random.default_rng(0)
        for bn in model.layers[1:6:3]:
            bn.moving_mean.value[...] = rng.standard_normal(256) * 0.1
            bn.moving_variance.value[...] = rng.random(256) + 0.5
            bn.gamma.value[...] = rng.random(256) + 0.5
            bn.beta.value[...] = rng.standard_normal(256) * 0.1
        return model
    src = fold_from.layers
    model = fastff.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                               layers.Dense(256, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.build()
    for dst, (dense, bn) in zip(model.layers[:2], [(src[0], src[1]), (src[3], src[4])]):
        f = FoldedDense(dense, bn)
        dst.kernel.value[...] = f.kernel.value
        dst.bias.value[...] = f.bias.value
    model.layers[2].kernel.value[...] = src[6].kernel.value
    model.layers[2].bias.value[...] = src[6].bias.value
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--repeats", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = ap.parse_args(argv)
    import fastff

    fastff.set_num_threads(args.threads)
    fastff.utils.set_random_seed(0)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    from fastff.training import compiled

    nets = {"BN": build()}
    nets["folded"] = build(nets["BN"])
    nets["folded, general"] = nets["folded"]  # the same net with the compiled path off
    rng = np.random.default_rng(1)
    x = {n: rng.random((n, 784), dtype=np.float32) for n in (1, 1024)}
    diff = {n: float(np.abs(nets["BN"].predict(v, verbose=0)
                            - nets["folded"].predict(v, verbose=0)).max())
            for n, v in x.items()}

    def sample(name: str, rows: int) -> float:
        model, v = nets[name], x[rows]
        calls = max(args.calls // (10 if rows > 1 else 1), 3)
        ts = []
        compiled.ENABLED = name != "folded, general"
        try:
            for _ in range(calls):
                t = clock()
                model.predict(v, verbose=0)
                ts.append(clock() - t)
        finally:
            compiled.ENABLED = True
        return statistics.median(ts)

    for rows in x:  # warm-up: compiles, first-touch
        for name in nets:
            sample(name, rows)
    paths = {n: "compiled" if compiled.predict_plan(m) is not None else "general"
             for n, m in list(nets.items())[:2]}
    print(f"predict, threads {args.threads}, clock {args.clock}, median of {args.repeats} "
          "samples (each the median of its calls); predict's path: "
          + ", ".join(f"{n} {p}" for n, p in paths.items()))
    print(f"{'rows':>6}{'BN (ms)':>10}{'folded (ms)':>13}{'folded, general (ms)':>22}"
          f"{'BN / folded':>13}{'BN / folded, general':>22}{'max |diff|':>12}")
    for rows in x:
        times: dict[str, list[float]] = {name: [] for name in nets}
        for _ in range(args.repeats):
            for name in nets:
                times[name].append(sample(name, rows))
        bn, fo, fg = (statistics.median(times[n]) for n in nets)
        print(f"{rows:>6}{bn * 1e3:>10.3f}{fo * 1e3:>13.3f}{fg * 1e3:>22.3f}{bn / fo:>12.2f}x"
              f"{bn / fg:>21.2f}x{diff[rows]:>12.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
