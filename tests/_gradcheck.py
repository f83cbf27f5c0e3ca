"""Central differences for layers check_grads cannot take (several inputs, inference mode)."""

from __future__ import annotations

import numpy as np


def numeric_input_grads(f, xs, eps=1e-6):
    """Gradients of the scalar ``f(xs)`` with respect to each array of ``xs`` (float64)."""
    out = []
    for x in xs:
        g = np.zeros_like(x)
        flat, gf = x.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            fp = f(xs)
            flat[i] = old - eps
            fm = f(xs)
            flat[i] = old
            gf[i] = (fp - fm) / (2 * eps)
        out.append(g)
    return out


def check_layer_inputs(layer, xs, training=False, seed=0, tol=1e-6):
    """``layer.forward`` on ``xs`` (a list for multi-input layers): dx against numbers."""
    rng = np.random.default_rng(seed)
    multi = isinstance(xs, list)
    xs = [np.array(x, dtype=np.float64) for x in (xs if multi else [xs])]
    y, bp = layer.forward(xs if multi else xs[0], training)
    r = rng.standard_normal(np.shape(y))
    dx = bp(r, True)
    dx = dx if multi else [dx]

    def f(arrs):
        return float(np.sum(layer.forward(arrs if multi else arrs[0], training)[0] * r))

    for a, n in zip(dx, numeric_input_grads(f, xs)):
        scale = max(np.abs(n).max(), np.abs(a).max(), 1e-3)
        assert np.abs(np.asarray(a) - n).max() / scale < tol
