"""First fit in a fresh process: Numba compilation on a cold cache, and the same on a warm one.

Each case runs in its own fresh subprocess with ``NUMBA_CACHE_DIR`` pointing at a temporary
directory: empty the first time (cold), then again with the cache that run left (warm). The
child times (a) ``import fastff``, (b) building and ``compile()``-ing the model, (c) the first
``fit`` (one epoch of a small array) and (d) the first ``predict``, in wall and process CPU
seconds (the CPU time shows the cost on a loaded machine). Cases:

- ``demo``: the model ``python -m fastff demo`` trains (``fastff.demo.build_model``: 64-256-128-10
  ReLU MLP with dropout, softmax, Adam with a cosine-decayed rate, sparse cross-entropy and
  accuracy, batch 32, validation data);
- ``mlp``: the 784-256-256-10 ReLU MLP with Adam and sparse cross-entropy, batch 128;
- ``ln``: the same MLP with a LayerNormalization after each hidden Dense (784-256-LN-256-LN-10);
- ``bn``: the same with BatchNormalization.

``--profile`` adds a cold run per case that records Numba's ``numba:compile`` events and
prints the functions compiled on the first fit, with their own (exclusive) and inclusive
compile times (CPU seconds of the compiling thread, steadier than wall time on a busy
machine), top 15 by own time.

    python benchmarks/cold_start.py [--cases demo,mlp] [--profile] [--repeats N]
        [--tree before=/path/to/other/checkout --tree after=.]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r'''
import json, os, sys, time
def now():
    return time.perf_counter(), time.process_time()
marks = {}
t0 = now()
import fastff
marks["import"] = now()
import numpy as np
case, profile = sys.argv[1], sys.argv[2] == "1"
rng = np.random.default_rng(0)
if case == "demo":
    from fastff.demo import DemoData, build_model
    x = rng.standard_normal((320, 64)).astype(np.float32)
    y = rng.integers(0, 10, 320).astype(np.int64)
    data = DemoData("random", x[:256], y[:256], x[256:], y[256:], hidden=(256, 128), epochs=1,
                    batch_size=32, target=0.0)
    fastff.config.set_seed(0)
    model = build_model(64, 10, data, steps=8)
    fit_kw = dict(batch_size=32, epochs=1, validation_data=(data.x_test, data.y_test), verbose=0)
    xtr, ytr, xte = data.x_train, data.y_train, data.x_test
else:
    from fastff import layers
    xtr = rng.random((512, 784)).astype(np.float32)
    ytr = rng.integers(0, 10, 512).astype(np.int64)
    xte = xtr[:128]
    norm = {"ln": layers.LayerNormalization, "bn": layers.BatchNormalization}.get(case)
    stack = [layers.Input((784,))]
    for _ in range(2):
        stack.append(layers.Dense(256, activation="relu"))
        if norm is not None:
            stack.append(norm())
    model = fastff.Sequential(stack + [layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    fit_kw = dict(batch_size=128, epochs=1, verbose=0)
marks["compile"] = now()
events = []
if profile:
    import numba.core.event as ev
    from numba.core import caching
    loads = []
    real_load = caching.Cache.load_overload
    def load(self, sig, target_context):
        a = time.perf_counter()
        try:
            return real_load(self, sig, target_context)
        finally:
            loads.append((self._name, time.perf_counter() - a))
    caching.Cache.load_overload = load
    class Rec(ev.Listener):
        def on_start(self, e):
            events.append(("s", time.thread_time(), e.data))
        def on_end(self, e):
            events.append(("e", time.thread_time(), e.data))
    ev.register("numba:compile", Rec())
model.fit(xtr, ytr, **fit_kw)
marks["fit"] = now()
n_fit_events = len(events)
model.predict(xte, verbose=0)
marks["predict"] = now()
out = {"marks": {}, "compiled": [], "loads": []}
prev = t0
for k, v in marks.items():
    out["marks"][k] = [v[0] - prev[0], v[1] - prev[1]]
    prev = v
if profile:
    stack = []
    for i, (kind, t, data) in enumerate(events):
        phase = "fit" if i < n_fit_events else "predict"
        if kind == "s":
            stack.append([t, 0.0, data])
        else:
            start, child, d = stack.pop()
            incl = t - start
            if stack:
                stack[-1][1] += incl
            disp = d["dispatcher"]
            name = disp.py_func.__module__.replace("fastff.backend.kernels.", "K.") + "." + \
                disp.py_func.__qualname__
            sig = ",".join(str(a) for a in d["args"])
            out["compiled"].append([name, sig, incl, incl - child, phase])
    out["loads"] = loads
print("RESULT" + json.dumps(out))
'''


_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(case: str, cache: str, profile: bool, root: str = _HERE) -> dict:
    """One fresh process of ``case`` importing fastff from ``root``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, case, "1" if profile else "0"],
                          env=env, capture_output=True, text=True, cwd=root, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    raise SystemExit(f"child failed ({case}):\n{proc.stdout}\n{proc.stderr}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="demo,mlp", help="comma-separated: demo, mlp, ln, bn")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-only", action="store_true", help="only the profile runs")
    ap.add_argument("--verbose", action="store_true", help="list every compilation")
    ap.add_argument("--tree", action="append", metavar="LABEL=DIR",
                    help="time fastff from another checkout too (repeatable; the runs "
                         "alternate between trees); default: this one")
    ap.add_argument("--repeats", type=int, default=1,
                    help="cold+warm pairs per case (medians are printed)")
    args = ap.parse_args(argv)
    cases = args.cases.split(",")
    phases = ("import", "compile", "fit", "predict")
    trees = [t.split("=", 1) for t in args.tree] if args.tree else [["this", _HERE]]
    print(f"{'tree':7} {'case':6} {'cache':5} " + " ".join(f"{p + ' s':>15}" for p in phases)
          + f" {'total s':>15}")
    print(f"{'':20} " + " ".join(f"{'wall / cpu':>15}" for _ in phases) + f" {'wall / cpu':>15}")
    for case in cases if not args.profile_only else ():
        runs: dict[tuple, list[dict]] = {}
        for _ in range(args.repeats):
            for label, root in trees:
                with tempfile.TemporaryDirectory(prefix="fastff-numba-") as cache:
                    for state in ("cold", "warm"):
                        runs.setdefault((label, state), []).append(
                            _child(case, cache, False, os.path.abspath(root)))
        for (label, state), got in runs.items():
            cells = []
            tw = tc = 0.0
            for p in phases:
                w = statistics.median(r["marks"][p][0] for r in got)
                c = statistics.median(r["marks"][p][1] for r in got)
                tw += w
                tc += c
                cells.append(f"{w:7.2f} /{c:6.2f}")
            print(f"{label:7} {case:6} {state:5} " + " ".join(f"{c:>15}" for c in cells)
                  + f" {tw:7.2f} /{tc:6.2f}")
    if args.profile or args.profile_only:
        for case in cases:
            with tempfile.TemporaryDirectory(prefix="fastff-numba-") as cache:
                r = _child(case, cache, True, os.path.abspath(trees[-1][1]))
            comp = r["compiled"]
            own = sum(c[3] for c in comp)
            print(f"\n{case}: {len(comp)} compilations, {own:.2f} CPU s of compile in all "
                  f"(fit {sum(c[3] for c in comp if c[4] == 'fit'):.2f} s, predict "
                  f"{sum(c[3] for c in comp if c[4] == 'predict'):.2f} s); top 15 by own time:")
            print(f"  {'own s':>6} {'incl s':>6} {'phase':7} function(signature)")
            for name, sig, incl, self_t, phase in sorted(comp, key=lambda c: -c[3])[:15]:
                sig = sig if len(sig) < 90 else sig[:87] + "..."
                print(f"  {self_t:6.2f} {incl:6.2f} {phase:7} {name}({sig})")
            per: dict[str, list[float]] = {}
            for name, _sig, _incl, self_t, _phase in comp:
                got = per.setdefault(name, [0, 0.0])
                got[0] += 1
                got[1] += self_t
            print("  by function (specialisations, own s), top 15:")
            for name, (n, t) in sorted(per.items(), key=lambda kv: -kv[1][1])[:15]:
                print(f"  {t:6.2f} x{n:<3d} {name}")
            if args.verbose:
                for name, sig, _incl, self_t, phase in comp:
                    print(f"    {self_t:6.2f} {phase:7} {name}({sig})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
