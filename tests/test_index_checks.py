"""Every documented entry that indexes with ids, rows or labels range-checks them at the Ops
boundary: an id past the table (or negative, or a NaN float id) raises a ValueError naming
the entry, and nothing the caller passed is changed (no read or write outside the table)."""

from __future__ import annotations

import numpy as np
import pytest

from fastff import optimizers
from fastff.backend.cpu_ops import CpuOps
from fastff.backend.numpy_ops import NumpyOps

V, D = 7, 3
BAD_IDS = [V, V + 1000, -1, 2**62, -(2**62)]


def _entries(ops):
    """(name, call(ids)) for every id-taking entry point, with valid other arguments."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((V, D))
    dtable = np.zeros((V, D))

    def gather(ids):
        return ops.embedding_gather(table, np.array([[1, 2], [ids, 0]]), pad_id=-1)

    def gather_back(ids):
        return ops.backprop_embedding_gather(np.ones((4, D)), np.array([1, 2, ids, 0]),
                                             dtable, pad_id=-1)

    def gather_back_prev(ids):
        return ops.backprop_embedding_gather(np.ones((2, D)), np.array([1, 2]), dtable,
                                             pad_id=-1, prev_rows=np.array([0, ids]))

    def bag(ids):
        return ops.embedding_bag(table, np.array([[1, 2], [ids, 0]]), pad_id=0)

    def bag_back(ids):
        return ops.backprop_embedding_bag(np.ones((2, D)), np.array([[1, 2], [ids, 3]]),
                                          dtable, pad_id=0)

    def xent(label):
        return ops.softmax_xent_sparse(rng.standard_normal((3, V)), np.array([0, label, 1]))

    out = [("embedding_gather", gather), ("backprop_embedding_gather", gather_back),
           ("backprop_embedding_gather", gather_back_prev), ("embedding_bag", bag),
           ("backprop_embedding_bag", bag_back), ("sparse cross-entropy", xent)]
    if hasattr(ops, "adam_rows"):
        m, v = np.zeros((V, D)), np.zeros((V, D))

        def adam(row):
            return ops.adam_rows(table, np.ones((V, D)), m, v, np.array([1, row]), 0.1)

        out.append(("adam_rows", adam))
    return table, dtable, out


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
def test_out_of_range_ids_refused(ops):
    table, dtable, entries = _entries(ops)
    for name, call in entries:
        call(3)  # in range: fine
        t0, d0 = table.copy(), dtable.copy()
        for bad in BAD_IDS:
            dtable[...] = d0
            with pytest.raises(ValueError, match=name):
                call(bad)
        np.testing.assert_array_equal(table, t0)


@pytest.mark.parametrize("ops", [NumpyOps(), CpuOps()], ids=["numpy", "cpu"])
def test_nan_float_ids_refused(ops):
    table = np.ones((V, D))
    with pytest.raises(ValueError, match="embedding_gather"):
        ops.embedding_gather(table, np.array([1.0, np.nan]))


def test_adam_rows_state_shape_checked():
    ops = CpuOps()
    table = np.ones((V, D))
    with pytest.raises(ValueError, match="adam_rows: m"):
        ops.adam_rows(table, np.ones((V, D)), np.zeros((2, D)), np.zeros((V, D)),
                      np.array([5]), 0.1)


def test_apply_rows_out_of_range_refused():
    """Optimizer.apply_rows (docs/internals.md) on CpuOps: rows past the table refused."""
    opt = optimizers.Adam(ops=CpuOps())
    opt.build(V * D, np.float64)
    params, grads = np.ones(V * D), np.ones(V * D)
    with pytest.raises(ValueError, match="rows"):
        opt.apply_rows(params, grads, 0, (V, D), np.array([0, V + 5]))
    np.testing.assert_array_equal(params, 1.0)
