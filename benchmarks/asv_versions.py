"""The asv suite's ``time_*`` benchmarks on two fastff trees, alternating, in one run.

    python benchmarks/asv_versions.py --trees OLD_ROOT NEW_ROOT [-b bench_train,bench_ops]
        [-r ROUNDS] [-t THREADS]

asv compares commits one build at a time, minutes apart, so on a shared machine its
before/after mostly measures the neighbours. This runs the *same* benchmark code (this
tree's ``asv_bench/benchmarks``) against each tree's ``fastff`` (its own C core, built in
place), each round in a fresh process per tree, alternating, and reports medians over the
rounds (each the median of repeated calls) and the ratio new / old. A benchmark the old
tree cannot run (a newer API) shows ``n/a``. Threads are pinned (``-t``, default 1), so the
comparison is of the code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent / "asv_bench" / "benchmarks"


def _cases(module: object) -> list[tuple[str, type, str, tuple]]:
    """(name, class, method, params) for every time_* method and parameter combination."""
    out = []
    for cname, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__:
            continue
        params = getattr(cls, "params", None)
        if params and not isinstance(params[0], (list, tuple)):
            params = (params,)
        combos = list(itertools.product(*params)) if params else [()]
        for mname, _ in inspect.getmembers(cls, inspect.isfunction):
            if mname.startswith("time_"):
                for combo in combos:
                    label = f"{module.__name__}.{cname}.{mname}"
                    if combo:
                        label += "(" + ", ".join(map(str, combo)) + ")"
                    out.append((label, cls, mname, combo))
    return out


def worker(benches: list[str], threads: int, budget: float = 0.3) -> None:
    """Time each case: the median of at least 5 calls (up to ``budget`` seconds or 200 calls)
    after setup and one warm-up call; print JSON {label: seconds}."""
    from fastff import _threading

    _threading.set_num_threads(threads)
    sys.path.insert(0, str(SUITE))
    results: dict[str, float | None] = {}
    for name in benches:
        module = importlib.import_module(name)
        for label, cls, mname, combo in _cases(module):
            try:
                obj = cls()
                if hasattr(obj, "setup"):
                    obj.setup(*combo)
                fn = getattr(obj, mname)
                fn(*combo)  # warm-up (compilation, caches)
                times: list[float] = []
                start = time.perf_counter()
                while len(times) < 5 or (time.perf_counter() - start < budget
                                         and len(times) < 200):
                    t0 = time.perf_counter()
                    fn(*combo)
                    times.append(time.perf_counter() - t0)
                results[label] = statistics.median(times)
            except Exception:  # noqa: BLE001 - an API the tree does not have
                results[label] = None
    print(json.dumps(results))


def _ms(v: float | None) -> str:
    return f"{v * 1e3:9.3f}ms" if v is not None else "       n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", nargs=2, required=True, metavar=("OLD", "NEW"))
    ap.add_argument("-b", "--benches", default="bench_train,bench_ops")
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    benches = args.benches.split(",")
    if args.worker:
        return worker(benches, args.threads)
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in args.trees}
    for r in range(args.rounds):
        for tree in (args.trees if r % 2 == 0 else args.trees[::-1]):
            env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS=str(args.threads),
                       NUMBA_NUM_THREADS=str(args.threads))
            res = subprocess.run([sys.executable, __file__, "--worker", "--trees", *args.trees,
                                  "-b", args.benches, "-t", str(args.threads)],
                                 capture_output=True, text=True, cwd=tree, env=env, timeout=3600)
            if res.returncode:
                raise SystemExit(f"{tree}: {res.stderr[-2000:]}")
            for label, s in json.loads(res.stdout.strip().splitlines()[-1]).items():
                samples[tree].setdefault(label, [])
                if s is not None:
                    samples[tree][label].append(s)
    old, new = args.trees
    print(f"{'benchmark':<62} {'old':>10} {'new':>10} {'new/old':>8}")
    for label in samples[new]:
        o, n = samples[old].get(label) or [], samples[new][label]
        mo = statistics.median(o) if o else None
        mn = statistics.median(n) if n else None
        ratio = f"{mn / mo:8.2f}" if mo and mn else "     n/a"
        print(f"{label:<62} {_ms(mo)} {_ms(mn)} {ratio}")


if __name__ == "__main__":
    main()
