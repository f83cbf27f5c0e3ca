"""Helpers of tests/test_engine_equality.py: a recording Ops and a one-step divergence finder.

``RecordingOps`` is ``CpuOps`` that logs every kernel call of the general path (name, array
shapes, scalar arguments, and copies of what the call wrote). ``where_they_differ`` runs one
training step both ways — general on a ``RecordingOps``, compiled through ``fastpath`` — and
names the first general kernel call whose output the compiled step does not reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastff.backend.cpu_ops import CpuOps
from fastff.training import compiled as fastpath

#: the Ops methods a training step of a Dense stack calls
RECORDED = ("dense", "backprop_dense", "dropout_mask", "multiply", "softmax_xent_sparse",
            "softmax_xent", "sigmoid_bce", "mse", "activation", "optimizer_step", "sum_f64",
            "permutation", "batch_norm_train", "backprop_batch_norm", "layer_norm",
            "backprop_layer_norm")


@dataclass
class KernelCall:
    """One recorded call: name, argument summary, copies of its array arguments (after the
    call, so in-place outputs are included) and of its result."""

    name: str
    summary: str
    arrays_after: list = field(default_factory=list)
    result: Any = None


def _summary(args: tuple, kwargs: dict) -> str:
    def one(a: Any) -> str:
        if isinstance(a, np.ndarray):
            return f"{a.dtype}{list(a.shape)}"
        if isinstance(a, (tuple, list)):
            return "(" + ", ".join(one(x) for x in a) + ")"
        return repr(a)
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _copy(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        return tuple(_copy(v) for v in x)
    return x


class RecordingOps(CpuOps):
    """CpuOps logging each call of ``RECORDED`` into ``calls`` (its type is not ``CpuOps``,
    so a model on it always trains on the general path)."""

    def __init__(self) -> None:
        self.calls: list[KernelCall] = []


def _recorded(name: str) -> Any:
    def method(self: RecordingOps, *args: Any, **kwargs: Any) -> Any:
        out = getattr(CpuOps, name)(self, *args, **kwargs)
        self.calls.append(KernelCall(name, _summary(args, kwargs),
                                     [a.copy() for a in args if isinstance(a, np.ndarray)],
                                     _copy(out)))
        return out

    method.__name__ = name
    return method


for _name in RECORDED:
    setattr(RecordingOps, _name, _recorded(_name))


def _differs(a: np.ndarray, b: np.ndarray) -> str | None:
    a = np.asarray(a).reshape(-1)
    b = np.asarray(b).reshape(-1)
    if a.shape != b.shape:
        return f"sizes {a.size} vs {b.size}"
    if np.array_equal(a, b, equal_nan=True):
        return None
    i = int(np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))[0])
    return f"first at flat index {i}: general {a[i]!r}, compiled {b[i]!r}"


def where_they_differ(make: Any, x: np.ndarray, y: np.ndarray, batch: int) -> str:
    """One step on the first ``batch`` rows, general (recorded) vs compiled: the first
    kernel call whose output differs, or a line saying the step agrees."""
    xb, yb = x[:batch], y[:batch]
    general = make()
    rec = RecordingOps()
    general.ops = rec
    general.fit(xb, yb, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    compiled = make()
    compiled.fit(xb, yb, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    st = compiled._fast_stack
    plan = fastpath.train_plan(compiled, batch)
    if st is None or plan is None:
        return "the compiled model did not take the compiled path"
    from fastff.backend.kernels import train_step as K

    meta, ws = st.workspace(batch, plan.loss_kind != 3)
    dense = [c for c in rec.calls if c.name == "dense"]
    masks = [c for c in rec.calls if c.name == "dropout_mask"]
    # per normalization kind: the meta column that marks it, its workspace column, its calls
    norms = {"bn": (K.BN_MM, K.BN_WS, [c for c in rec.calls if c.name == "batch_norm_train"]),
             "ln": (K.LN, K.LN_WS, [c for c in rec.calls if c.name == "layer_norm"])}
    seen = {"bn": 0, "ln": 0}
    lines = [f"general step: {len(rec.calls)} kernel calls"]
    m = 0
    for k, row in enumerate(meta):
        ni, no, o = int(row[0]), int(row[1]), int(row[7])
        if row[6] >= 0 and m < len(masks):
            got = ws[o + 2 * batch * no + batch * ni:o + 2 * batch * no + 2 * batch * ni]
            why = _differs(masks[m].result, got)
            if why:
                return f"kernel call dropout_mask #{m} ({masks[m].summary}): {why}"
            m += 1
        if k < len(dense):
            why = _differs(dense[k].result, ws[o:o + batch * no])
            if why:
                return f"kernel call dense #{k} ({dense[k].summary}): {why}"
        for kind, (col, ws_col, calls) in norms.items():  # a normalization's z
            if row[col] >= 0 and seen[kind] < len(calls):
                call = calls[seen[kind]]
                why = _differs(call.result[0], ws[row[ws_col]:row[ws_col] + batch * no])
                if why:
                    return f"kernel call {call.name} #{seen[kind]} ({call.summary}): {why}"
                seen[kind] += 1
    why = _differs(general.grads, compiled.grads)
    if why:
        calls = [c for c in rec.calls if c.name in ("backprop_dense", "softmax_xent_sparse",
                                                    "softmax_xent", "sigmoid_bce", "mse",
                                                    "backprop_batch_norm",
                                                    "backprop_layer_norm")]
        return ("gradients differ after the loss/backprop_dense calls "
                f"{[c.name for c in calls]}: {why}")
    why = _differs(general.params, compiled.params)
    if why:
        opt = [c for c in rec.calls if c.name == "optimizer_step"]
        return f"kernel call optimizer_step ({opt[0].summary if opt else '?'}): {why}"
    lines.append("one step agrees kernel by kernel")
    return "; ".join(lines)
