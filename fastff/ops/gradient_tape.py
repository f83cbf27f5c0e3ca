"""``GradientTape`` and ``value_and_grad``: the user-facing ways to record and differentiate
(the tape itself, and how values are tracked, are in ``fastff.ops.tape``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fastff.ops.tape import OpsError, Tensor, _stack, _Tape, value_of

__all__ = ["GradientTape", "value_and_grad"]


class GradientTape:
    """Record ops in a ``with`` block, then ``tape.gradient(target, sources)`` (as TF/Keras).

    Sources are weights (``Param``), Tensors recorded on this tape, or arrays passed to
    ``watch`` first. ``gradient`` returns one array per source (None where the target does not
    depend on it). A non-persistent tape forgets everything after its first ``gradient``."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = bool(persistent)
        self._tape: _Tape | None = None
        self._used = False

    def __enter__(self) -> GradientTape:
        self._tape = _Tape()
        _stack().append(self._tape)
        return self

    def __exit__(self, *exc: Any) -> None:
        s = _stack()
        if s and s[-1] is self._tape:
            s.pop()
        elif self._tape in s:
            s.remove(self._tape)
        self._tape.active = False  # type: ignore[union-attr]

    def watch(self, x: Any) -> Any:
        """Make ``x`` (an array, or a list of them) a source. Returns it as recorded
        Tensor(s): use those with operators (``x @ w``); ``fastff.ops`` functions and
        ``gradient`` also accept the original arrays."""
        if self._tape is None:
            raise RuntimeError("GradientTape.watch: use it inside `with GradientTape() as t:`")
        many = isinstance(x, (list, tuple))
        out = []
        for a in (x if many else [x]):
            if getattr(a, "_fastff_variable", False):
                self._tape.leaf(a, a.shape)
                out.append(a)
                continue
            a = value_of(a) if isinstance(a, Tensor) else a
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
                raise TypeError(f"GradientTape.watch: expected a float ndarray, got "
                                f"{getattr(a, 'dtype', type(a).__name__)}")
            out.append(self._tape.wrap(a, self._tape.leaf(a, a.shape)))
        return out if many else out[0]

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None) -> Any:
        """d(sum of target · output_gradients)/d(source) for each source."""
        tape = self._tape
        if tape is None:
            raise RuntimeError("GradientTape.gradient: the tape has not recorded anything")
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape (use GradientTape(persistent=True))")
        single = not isinstance(sources, (list, tuple))
        srcs = [sources] if single else list(sources)
        targets = target if isinstance(target, (list, tuple)) else [target]
        ogs = output_gradients if isinstance(output_gradients, (list, tuple)) \
            else [output_gradients] * len(targets)
        seeds = []
        for t, og in zip(targets, ogs):
            r = tape.ref(t)
            if r < 0:
                continue
            v = value_of(t)
            g = np.ones_like(v) if og is None else np.broadcast_to(
                np.asarray(og, dtype=v.dtype), v.shape).copy()
            seeds.append((r, g))
        want = [tape.ref(s) if not isinstance(s, np.ndarray) or isinstance(s, Tensor)
                else tape.leaves.get(id(s), -1) for s in srcs]
        grads, touched = tape.backward(seeds, {w for w in want if w >= 0}) if seeds \
            else ([], set())
        out = []
        for s, w in zip(srcs, want):
            g = None if w < 0 or not seeds else grads[w]
            if id(s) in touched:  # a layer's backprop wrote this weight's gradient
                g = s.grad.copy() if g is None else g + s.grad
            out.append(g)
        self._used = True
        if not self.persistent:
            tape.clear()
        return out[0] if single else out


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``fn`` → ``g(*args) = (fn(*args), d fn / d args[argnums])`` (as ``jax.value_and_grad``).

    ``fn`` must return a scalar (with ``has_aux``: ``(scalar, aux)``); args may be arrays or
    weights (``Param``); gradients come back as arrays in the same structure."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        args = list(args)
        with GradientTape() as t:
            for k in nums:
                if not getattr(args[k], "_fastff_variable", False):
                    args[k] = t.watch(_as_float_array(args[k], "value_and_grad"))
            out = fn(*args, **kwargs)
        value, aux = out if has_aux else (out, None)
        if np.ndim(value_of(value)) != 0:
            raise OpsError(f"value_and_grad: fn must return a scalar, got shape "
                           f"{np.shape(value_of(value))}")
        gs = t.gradient(value, [args[k] for k in nums])
        gs = [np.zeros(np.shape(value_of(args[k])), dtype=np.asarray(value_of(args[k])).dtype)
              if g is None else g for g, k in zip(gs, nums)]
        v = np.asarray(value_of(value))
        g = gs[0] if isinstance(argnums, int) else tuple(gs)
        return ((v, aux), g) if has_aux else (v, g)

    return wrapped


def _as_float_array(x: Any, where: str) -> np.ndarray:
    a = np.array(value_of(x), copy=True)
    if a.dtype.kind not in "f":
        if a.dtype.kind in "iub":
            a = a.astype(np.float64)
        else:
            raise TypeError(f"{where}: cannot differentiate with respect to dtype {a.dtype}")
    return a
