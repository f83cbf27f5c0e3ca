"""Latency of the exported C source (``model.export(path, format="c")``) beside ``predict``.

An MNIST-sized MLP (784-256-128-10, relu, softmax) is exported, compiled with gcc
(``-std=c99 -O2``, and ``-O3 -march=native`` as a second build) and timed for one row and a
batch of 256: inside C (a clock_gettime loop, no Python), through ctypes, and fastff's
``predict`` / ``predict_on_batch`` (and ONNX Runtime on the exported ONNX file when
installed). Each figure is the best per-call time over many short timed windows (50·r
windows of 20 calls for one row, 5·r single calls for 256 rows), the least disturbed by
other load on a shared machine.

    python benchmarks/export_c_latency.py -r 5
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastff
from fastff.layers import Dense, Dropout

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "net.h"
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
int main(int argc, char **argv)
{
    int rows = atoi(argv[1]), reps = atoi(argv[2]), windows = atoi(argv[3]), i, w;
    float *x = malloc(sizeof(float) * rows * NET_N_INPUTS);
    float *y = malloc(sizeof(float) * rows * NET_N_OUTPUTS);
    double best = 1e30, t0;
    float sink = 0.0f;
    for (i = 0; i < rows * NET_N_INPUTS; ++i) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    net_predict(x, rows, y);
    for (w = 0; w < windows; ++w) {
        t0 = now();
        for (i = 0; i < reps; ++i) { net_predict(x, rows, y); sink += y[0]; }
        t0 = (now() - t0) / reps;
        if (t0 < best) best = t0;
    }
    printf("%.9g %g\n", best, sink);
    return 0;
}
"""


def _time(fn, reps: int, windows: int) -> float:
    """The best per-call time over ``windows`` short windows of ``reps`` calls."""
    fn()
    out = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - t0) / reps)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", "--repeats", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=1, help="fastff threads")
    args = ap.parse_args()
    gcc = shutil.which("gcc")
    if gcc is None:
        sys.exit("needs gcc")
    fastff.set_num_threads(args.threads)
    fastff.utils.set_random_seed(0)
    model = fastff.Sequential([fastff.Input(shape=(784,)), Dense(256, activation="relu"),
                               Dropout(0.2), Dense(128, activation="relu"),
                               Dense(10, activation="softmax")])
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(prefix="fastff_c_")
    model.export(os.path.join(tmp, "net.c"), format="c", verbose=False)
    with open(os.path.join(tmp, "harness.c"), "w") as f:
        f.write(HARNESS)
    rows_out: list[tuple[str, float, float]] = []
    builds = {"C -O2 (in C)": ["-O2"], "C -O3 -march=native (in C)": ["-O3", "-march=native"]}
    libs = {}
    for label, flags in builds.items():
        tag = "o2" if flags == ["-O2"] else "o3"
        exe, lib = os.path.join(tmp, f"bench_{tag}"), os.path.join(tmp, f"libnet_{tag}.so")
        subprocess.run([gcc, "-std=c99", *flags, "-I", tmp, os.path.join(tmp, "harness.c"),
                        os.path.join(tmp, "net.c"), "-o", exe, "-lm"], check=True)
        subprocess.run([gcc, "-std=c99", *flags, "-fPIC", "-shared", os.path.join(tmp, "net.c"),
                        "-o", lib, "-lm"], check=True)
        libs[tag] = lib
        t = []
        for rows, reps, windows in ((1, 20, 50 * args.repeats), (256, 1, 5 * args.repeats)):
            run = subprocess.run([exe, str(rows), str(reps), str(windows)], check=True,
                                 capture_output=True, text=True)
            t.append(float(run.stdout.split()[0]))
        rows_out.append((label, *t))
    fn = ctypes.CDLL(libs["o2"]).net_predict
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    x1 = rng.random((1, 784), dtype=np.float32)
    xb = rng.random((256, 784), dtype=np.float32)
    y1, yb = np.empty((1, 10), np.float32), np.empty((256, 10), np.float32)
    rows_out.append(("C -O2 via ctypes", _time(lambda: fn(x1.ctypes.data, 1, y1.ctypes.data),
                                               20, 50 * args.repeats),
                     _time(lambda: fn(xb.ctypes.data, 256, yb.ctypes.data), 1, 5 * args.repeats)))
    np.testing.assert_allclose(yb, model.predict(xb, verbose=0), rtol=1e-5, atol=1e-5)
    rows_out.append(("fastff predict", _time(lambda: model.predict(x1, verbose=0), 20,
                                             50 * args.repeats),
                     _time(lambda: model.predict(xb, verbose=0), 1, 5 * args.repeats)))
    rows_out.append(("fastff predict_on_batch",
                     _time(lambda: model.predict_on_batch(x1), 20, 50 * args.repeats),
                     _time(lambda: model.predict_on_batch(xb), 1, 5 * args.repeats)))
    try:
        import onnxruntime as ort

        path = os.path.join(tmp, "net.onnx")
        model.export(path, format="onnx", verbose=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        rows_out.append(("ONNX Runtime (exported .onnx)",
                         _time(lambda: sess.run(None, {name: x1}), 20, 50 * args.repeats),
                         _time(lambda: sess.run(None, {name: xb}), 1, 5 * args.repeats)))
    except ImportError:
        pass
    print(f"784-256-128-10 MLP, float32, fastff threads={args.threads}, "
          f"best window, r={args.repeats}")
    print("| path | 1 row (µs) | 256 rows (µs) |\n| --- | ---: | ---: |")
    for label, t1, tb in rows_out:
        print(f"| {label} | {t1 * 1e6:.1f} | {tb * 1e6:.0f} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
