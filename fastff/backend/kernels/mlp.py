"""A whole Dense stack's forward and backward as one compiled call each.

Building blocks for a compiled training/predict path (see DESIGN.md "Two paths, one
meaning"): they make exactly the calls the general path makes through ``CpuOps.dense`` and
``CpuOps.backprop_dense`` (the same C GEMMs with the same epilogues, the same fused
activation-derivative + bias-gradient kernel), so the numbers are bitwise the same — only the
Python between layers is gone. Activations must be fusable and derivable from the output:
linear, relu, leaky_relu (slope >= 0), elu, tanh, sigmoid (``stack_codes`` checks).

Arrays: float32 or float64, all of one dtype, 2-D C-contiguous; ``ws``/``bs``/``hs``/...
are tuples with one entry per layer (homogeneous, so Numba types them as one UniTuple).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from fastff._native import gemm_into_nb
from fastff.backend.kernels import ACT_CODES, NJIT
from fastff.backend.kernels.activations import act_backward_bias
from fastff.backend.kernels.reductions import bias_grad

# fastff activation name -> the C core's epilogue id
_C_IDS = {"linear": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "elu": 5}


def stack_codes(names: Sequence[str], params: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(c_ids, codes)`` int64 arrays for ``dense_stack_forward`` / ``_backward``.

    Raises ValueError for an activation the compiled stack cannot fuse.
    """
    for name, p in zip(names, params):
        if name not in _C_IDS or (name == "leaky_relu" and p < 0):
            raise ValueError(f"activation {name!r} cannot run in a compiled Dense stack")
    return (np.array([_C_IDS[n] for n in names], np.int64),
            np.array([ACT_CODES[n] for n in names], np.int64))


@njit(**NJIT)
def dense_stack_forward(x, ws, bs, c_ids, act_params, hs):
    """``hs[l] = act_l(h[l-1] @ ws[l] + bs[l])`` with ``h[-1] = x``; returns the first nonzero
    C error code, else 0."""
    a = x
    for k in range(len(ws)):
        rc = gemm_into_nb(a, ws[k], hs[k], False, False, 1.0, 0.0, bs[k], c_ids[k],
                          act_params[k])
        if rc != 0:
            return rc
        a = hs[k]
    return 0


@njit(**NJIT)
def dense_stack_backward(x, ws, hs, dws, dbs, dhs, works, codes, act_params, dtop):
    """Backward through the stack from ``dtop``, the gradient of the last layer's *output*.

    Layer l forms ``g = dy * act'(hs[l])`` (in ``works[l]``; ``dy`` itself when linear),
    writes ``dws[l] = h[l-1]ᵀ g`` and ``dbs[l] = Σ g``, and passes ``dy = g ws[l]ᵀ`` down in
    ``dhs[l-1]``. No input gradient for the first layer. Returns the C error code or 0.
    """
    n_layers = len(ws)
    dy = dtop
    for k in range(n_layers - 1, -1, -1):
        t = dy.dtype.type
        if codes[k] == 0:
            bias_grad(dy, dbs[k])
            g = dy
        else:
            act_backward_bias(dy, hs[k], works[k], dbs[k], codes[k], t(act_params[k]))
            g = works[k]
        a = x if k == 0 else hs[k - 1]
        rc = gemm_into_nb(a, g, dws[k], True, False, 1.0, 0.0, None, 0, 0.0)
        if rc != 0:
            return rc
        if k > 0:
            rc = gemm_into_nb(g, ws[k], dhs[k - 1], False, True, 1.0, 0.0, None, 0, 0.0)
            if rc != 0:
                return rc
            dy = dhs[k - 1]
    return 0
