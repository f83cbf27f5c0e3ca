"""The per-thread tape: reverse-mode recording for ``fastff.ops`` and layer calls.

How recorded values are tracked (the design choice): while a tape records, an op whose inputs
include a tracked value returns a ``Tensor``, a thin ``np.ndarray`` subclass (a view of the
plain result, so it *is* an ndarray and mixes with NumPy) carrying ``_tt = (tape serial, node
index)``. Tracking lives on the value itself, not in an ``id()`` map, so a freed array's reused
id can never alias a recorded one, and a Tensor of a finished tape is just a constant to a new
tape (its serial no longer matches). Operators (``x @ w + b``, ``-x``, ``x[1:]``, ``x.sum()``)
and NumPy functions on Tensors are routed back into ``fastff.ops`` (see ``_dispatch``), so
Keras-style code records without calling ``fastff.ops`` explicitly. Weights (``Param``) are
leaves the tape recognises by duck typing (``_fastff_variable``); plain arrays become leaves
only through ``GradientTape.watch``, which keeps them referenced while recording.

Each node holds ``(name, input refs, input shapes, vjp)``; ``vjp(g, need)`` returns one
gradient per input (None where ``need`` is False). ``backward`` replays the nodes in reverse,
sums gradients, and reduces broadcast gradients back to each input's shape. Integer and bool
results are never tracked (non-differentiable). After a backward pass (non-persistent tape) or
when a ``forward_call`` backprop has run, the tape drops every node, so nothing stays referenced
between training steps. Tapes are per thread (``threading.local``) and nest: ops record onto the
innermost one; a layer called inside recorded code is one node of the enclosing tape whose VJP
is the layer's own ``backprop`` closure.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["Tensor", "forward_call", "record",
           "record_layer", "current_tape", "is_recording", "value_of", "call_training",
           "OpsError", "NoGradientError"]


class OpsError(ValueError):
    """Bad input to a ``fastff.ops`` function (names the op)."""


class NoGradientError(TypeError):
    """A gradient is needed through an op that has none (names the op)."""


class _State(threading.local):
    """Per thread: the stack of recording tapes and of ``forward_call`` training flags
    (set up on a thread's first access, so reading them is a plain attribute lookup)."""

    def __init__(self) -> None:
        self.stack: list = []
        self.training: list = []


_state = _State()
_serials = itertools.count(1)


def _stack() -> list:
    return _state.stack


def current_tape() -> _Tape | None:
    """The innermost recording tape of this thread, or None."""
    s = _state.stack
    return s[-1] if s else None


def is_recording() -> bool:
    return bool(_state.stack)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Nothing records inside (a layer's dry run while building, for instance)."""
    s, tr = _state.stack, _state.training
    saved, saved_tr = s[:], tr[:]
    s.clear()
    tr.clear()
    try:
        yield
    finally:
        s[:] = saved
        tr[:] = saved_tr


def call_training() -> bool | None:
    """The ``training`` flag of the enclosing ``forward_call`` (None outside one)."""
    s = _state.training
    return s[-1] if s else None


class Tensor(np.ndarray):
    """An ndarray recorded on a tape (see the module docstring); behaves as its array."""

    _tt: tuple[int, int] | None = None
    _arr: np.ndarray | None = None

    # operators, NumPy functions and the array methods that must record are attached by
    # fastff.ops._methods (above the op modules, so this module imports none of them)

    def __iadd__(self, other):  # tensors are immutable: x += y rebinds x to x + y
        return self.__add__(other)

    def __isub__(self, other):
        return self.__sub__(other)

    def __imul__(self, other):
        return self.__mul__(other)

    def __itruediv__(self, other):
        return self.__truediv__(other)

    def __ipow__(self, other):
        return self.__pow__(other)

    def __imatmul__(self, other):
        return self.__matmul__(other)

    def __array_finalize__(self, obj):
        # a view made by an ndarray method fastff.ops does not intercept (swapaxes,
        # diagonal, ...): mark it as having no gradient, so needing one raises instead of
        # silently giving zero
        if type(obj) is Tensor and obj._tt is not None:
            s = _state.stack
            if s and obj._tt[0] == s[-1].serial and self.dtype.kind in "fc":
                tape = s[-1]
                i = len(tape.nodes)
                tape.nodes.append(_Node("an ndarray method on a recorded tensor (use the "
                                        "fastff.ops function)", [obj._tt[1]], [obj.shape],
                                        None))
                self._tt = (tape.serial, i)

    def __setitem__(self, key, value):
        raise OpsError("fastff.ops: a recorded tensor cannot be assigned to in place "
                       "(x[...] = v); build a new one, e.g. with fastff.ops.where")

    def numpy(self) -> np.ndarray:
        """The plain array (Keras tensor compatibility)."""
        return value_of(self).copy()


def value_of(x: Any) -> Any:
    """The plain value behind a Tensor or a weight (``Param``); anything else unchanged."""
    tx = type(x)
    if tx is np.ndarray or tx is float or tx is int:
        return x
    if tx is Tensor:
        a = x._arr
        return x.view(np.ndarray) if a is None else a
    if getattr(x, "_fastff_variable", False):
        return x.value
    if isinstance(x, Tensor):  # a subclass of a Tensor: unusual, but plain it
        return x.view(np.ndarray)
    return x


class _Node:
    __slots__ = ("name", "refs", "shapes", "vjp", "layer", "sink", "takes_out")

    def __init__(self, name: str, refs: list, shapes: list, vjp: Any, layer: Any = None,
                 takes_out: bool = False):
        self.name = name
        self.refs = refs        # node index per input, -1 for a constant
        self.shapes = shapes    # the inputs' shapes (for unbroadcasting)
        self.vjp = vjp          # vjp(g, need) -> grads per input; None: leaf or no gradient
        self.layer = layer      # a Layer node: the params its backprop overwrites
        self.sink = None        # a param leaf: its .grad buffer (forward_call)
        self.takes_out = takes_out  # vjp(g, need, outs) may write into the given buffers


_LEAF = "leaf"


class _Tape:
    """The recorded nodes of one ``GradientTape`` or ``forward_call`` (internal)."""

    __slots__ = ("serial", "nodes", "leaves", "keep", "active")

    def __init__(self) -> None:
        self.serial = next(_serials)
        self.nodes: list[_Node] = []
        self.leaves: dict[int, int] = {}  # id(param or watched array) -> node index
        self.keep: list = []              # keeps watched arrays and params alive (ids unique)
        self.active = True

    # ---- leaves -----------------------------------------------------------------------
    def leaf(self, obj: Any, shape: tuple[int, ...]) -> int:
        k = id(obj)
        i = self.leaves.get(k)
        if i is None:
            i = len(self.nodes)
            self.nodes.append(_Node(_LEAF, [], [], None))
            self.leaves[k] = i
            self.keep.append(obj)
        return i

    def ref(self, x: Any) -> int:
        """The node index of ``x`` on this tape, or -1 (a constant)."""
        tx = type(x)
        if tx is Tensor:
            tt = x._tt
            return tt[1] if tt is not None and tt[0] == self.serial else -1
        if tx is float or tx is int:
            return -1
        if getattr(x, "_fastff_variable", False):
            if x.value.dtype.kind != "f":
                return -1
            return self.leaf(x, x.shape)
        if self.leaves and isinstance(x, np.ndarray):
            return self.leaves.get(id(x), -1)
        return -1

    def wrap(self, y: np.ndarray, i: int) -> Tensor:
        t = y.view(Tensor)
        t._arr = y
        t._tt = (self.serial, i)
        return t

    def clear(self) -> None:
        self.nodes = []
        self.leaves = {}
        self.keep = []

    # ---- backward ---------------------------------------------------------------------
    def backward(self, seeds: list[tuple[int, np.ndarray]],
                 wanted: set[int]) -> tuple[list, set[int]]:
        """Gradients per node index (None where none reached) from ``seeds``, and the ids of
        the params whose ``.grad`` a layer node's backprop wrote; only nodes on a path to a
        ``wanted`` index are replayed."""
        nodes = self.nodes
        n = len(nodes)
        needed = [False] * n
        uses = [0] * n
        for i in wanted:
            needed[i] = True
        for i, node in enumerate(nodes):
            for r in node.refs:
                if r >= 0:
                    uses[r] += 1
                    if needed[r]:
                        needed[i] = True
        grads: list = [None] * n
        for i, g in seeds:
            grads[i] = g if grads[i] is None else grads[i] + g
        top = max((i for i, _ in seeds), default=-1)
        touched: set[int] = set()  # params a layer node's backprop has already written
        for i in range(top, -1, -1):
            g = grads[i]
            if g is None or not needed[i]:
                continue
            node = nodes[i]
            if node.name is _LEAF:
                continue
            if i not in wanted:
                grads[i] = None  # free intermediate gradients as we go
            if node.vjp is None:
                raise NoGradientError(
                    f"fastff.ops: {node.name} has no gradient, but a gradient is needed "
                    "through it (use a differentiable op, or fastff.ops.stop_gradient to "
                    "mark the value as a constant)")
            need = [r >= 0 and needed[r] for r in node.refs]
            if node.layer is not None:
                outs = _run_layer_vjp(node, g, need, touched)
            elif node.takes_out:  # a param used only here: its gradient goes straight to .grad
                outs = node.vjp(g, need, [nodes[r].sink if r >= 0 and uses[r] == 1 else None
                                          for r in node.refs])
            else:
                outs = node.vjp(g, need)
            for r, shape, d, nd in zip(node.refs, node.shapes, outs, need):
                if not nd or d is None:
                    continue
                d = _unbroadcast(np.asarray(d), shape, node.name)
                grads[r] = d if grads[r] is None else grads[r] + d
        return grads, touched


def _run_layer_vjp(node: _Node, g: np.ndarray, need: list, touched: set) -> Any:
    """A layer's backprop overwrites its params' grads: when a layer is called more than
    once in one recording, keep what earlier (later-recorded) calls wrote and add it back."""
    params = node.layer
    saved = [(p, p.grad.copy()) for p in params if id(p) in touched]
    outs = node.vjp(g, need)
    for p, old in saved:
        p.grad += old
    touched.update(id(p) for p in params)
    return outs


def _unbroadcast(d: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Sum a broadcast gradient back to the input's ``shape``."""
    if d.shape == shape:
        return d
    extra = d.ndim - len(shape)
    if extra < 0:
        raise OpsError(f"fastff.ops: internal gradient of {name} has shape {d.shape}, "
                       f"smaller than its input {shape}")
    if extra:
        d = d.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and d.shape[i] != 1)
    if axes:
        d = d.sum(axis=axes, keepdims=True)
    return d.reshape(shape)


# ---------------------------------------------------------------------------- recording
def record(name: str, y: Any, args: Sequence[Any], vjp: Callable | None,
           takes_out: bool = False) -> Any:
    """Record ``y = op(*args)`` on the current tape; returns ``y`` (a Tensor when tracked).

    ``vjp(g, need)`` gives one gradient per arg (broadcast shapes are reduced here); None
    marks an op with no gradient: using it where a gradient is needed raises, naming it.
    ``takes_out``: the vjp is ``vjp(g, need, outs)`` and may write an arg's gradient into
    ``outs[i]`` (a weight's ``.grad`` when nothing else uses it) and return that buffer."""
    y = np.asarray(y)
    s = _state.stack
    if not s or y.dtype.kind not in "fc":
        return y
    tape = s[-1]
    refs = [tape.ref(a) for a in args]
    shapes = [a.shape if r >= 0 else None for a, r in zip(args, refs)]  # tracked: have .shape
    if shapes.count(None) == len(shapes):
        return y
    i = len(tape.nodes)
    tape.nodes.append(_Node(name, refs, shapes, vjp, takes_out=takes_out))
    return tape.wrap(y, i)


def record_layer(layer: Any, x: Any, training: bool) -> Any:
    """Call a layer inside recorded code as ONE node whose VJP is its ``backprop``."""
    multi = isinstance(x, (list, tuple))
    xs = list(x) if multi else [x]
    plain = [np.ascontiguousarray(value_of(a)) for a in xs]
    if not layer.built:
        shape = [a.shape[1:] for a in plain] if multi else plain[0].shape[1:]
        layer.build_for(shape, layer.dtype or plain[0].dtype)
    y, bp = layer.forward(plain if multi else plain[0], training)
    if getattr(layer, "activity_regularizer", None) is not None:
        from fastff._call_context import regularize_output

        y, bp = regularize_output(layer, y, bp)
    if training and type(getattr(type(layer), "step", None)) is not property \
            and isinstance(getattr(layer, "step", None), int):
        layer.step += 1  # noise layers draw a new mask per call, as on direct calls
    tape = current_tape()
    if tape is None:
        return y
    params = list(layer.params)
    refs = [tape.ref(a) for a in xs]
    param_refs = [tape.leaf(p, p.shape) for p in params if p.trainable and layer.trainable]
    if max(refs, default=-1) < 0 and not param_refs:
        return y
    # the params are inputs too (so the node is replayed when a param's gradient is wanted);
    # their gradient goes to p.grad through backprop, so the vjp returns None for them
    n_x = len(xs)

    def vjp(g: np.ndarray, need: list) -> list:
        need_dx = any(need[:n_x])
        dx = bp(np.ascontiguousarray(g), need_dx)
        if not need_dx:
            return [None] * len(need)
        dxs = list(dx) if multi else [dx]
        return dxs + [None] * (len(need) - n_x)

    i = len(tape.nodes)
    tape.nodes.append(_Node(f"layer {layer.name!r}", refs + param_refs,
                            [np.shape(a) for a in plain] + [p.shape for p in params
                                                            if p.trainable and layer.trainable],
                            vjp, layer=params))
    return _wrap_out(tape, y, i, layer.name)


def _wrap_out(tape: _Tape, y: Any, i: int, name: str) -> Any:
    if isinstance(y, np.ndarray) and y.dtype.kind in "fc":
        return tape.wrap(y, i)
    return y


# ---------------------------------------------------------------------------- forward_call
def _flatten(x: Any) -> tuple[list, Callable]:
    """Leaves of a (nested list/tuple/dict) structure and a function rebuilding it."""
    if isinstance(x, (list, tuple)):
        parts = [_flatten(v) for v in x]
        sizes = [len(p[0]) for p in parts]
        kind = type(x)

        def rebuild(leaves: list) -> Any:
            out, k = [], 0
            for (_, rb), n in zip(parts, sizes):
                out.append(rb(leaves[k:k + n]))
                k += n
            return kind(out) if kind in (list, tuple) else out

        return [v for p in parts for v in p[0]], rebuild
    if isinstance(x, dict):
        keys = list(x)
        parts = [_flatten(x[k]) for k in keys]
        sizes = [len(p[0]) for p in parts]

        def rebuild_d(leaves: list) -> Any:
            out, k = {}, 0
            for key, (_, rb), n in zip(keys, parts, sizes):
                out[key] = rb(leaves[k:k + n])
                k += n
            return out

        return [v for p in parts for v in p[0]], rebuild_d
    return [x], lambda leaves: leaves[0]


def forward_call(fn: Callable[[Any], Any], inputs: Any, params: Sequence[Any] = (),
                 training: bool = False, name: str = "call") -> tuple[Any, Callable]:
    """Run arbitrary user code ``fn(inputs)`` under recording; the closure-contract pair.

    Contract (what built-in layers' ``forward`` returns, so it drops into the loops):

    - ``inputs``: an array or a (nested) list/tuple/dict of arrays. Each float array reaches
      ``fn`` as a recorded ``Tensor`` (a view: the caller's array is never written).
    - ``params``: the weights (``Param``) ``fn`` may use, e.g. ``layer.params`` (own and
      sublayers'). ``fn`` reads them through ``fastff.ops``/operators; built-in layers it
      calls are single tape nodes whose VJP is their fused ``backprop``.
    - ``training``: passed down to layers ``fn`` calls without a ``training`` argument.
    - returns ``(outputs, backprop)``: ``outputs`` in ``fn``'s structure, as plain arrays
      (arrays, or lists/tuples/dicts of them; anything else raises a TypeError naming
      ``name``). ``backprop(d_outputs, need_dx=True)`` takes gradients in the same structure
      (None for an output that gets none), **overwrites** ``p.grad`` for every param in
      ``params`` (zero where no gradient reached it), and returns the input gradients in the
      inputs' structure (None for non-float inputs) or None when ``need_dx`` is False.
      After it ran the tape is dropped: call it at most once.
    """
    leaves, rebuild = _flatten(inputs)
    tape = _Tape()
    stack = _state.stack
    tr = _state.training
    wrapped, refs = [], []
    for a in leaves:
        v = value_of(a)
        if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
            i = len(tape.nodes)
            tape.nodes.append(_Node(_LEAF, [], [], None))
            wrapped.append(tape.wrap(v, i))
            refs.append(i)
        else:
            wrapped.append(v)
            refs.append(-1)
    stack.append(tape)
    tr.append(bool(training))
    try:
        out = fn(rebuild(wrapped))
    finally:
        stack.pop()
        tr.pop()
        tape.active = False
    out_leaves, out_rebuild = _flatten(out)
    out_refs, plain = [], []
    for o in out_leaves:
        if not isinstance(o, np.ndarray):
            if np.isscalar(o) and isinstance(o, (float, int, np.number)):
                o = np.asarray(o)
            else:
                raise TypeError(f"{name} returned {type(o).__name__}, not an array (or a "
                                "list/tuple/dict of arrays)")
        out_refs.append(tape.ref(o))
        plain.append(np.asarray(o))
    params = list(params)
    for p in params:  # every param is a potential source
        grad = p.grad
        if isinstance(grad, np.ndarray) and grad.flags.c_contiguous and grad.flags.writeable:
            tape.nodes[tape.leaf(p, p.shape)].sink = grad
        else:
            tape.leaf(p, p.shape)
    outputs = out_rebuild(plain)

    def backprop(d_outputs: Any, need_dx: bool = True) -> Any:
        douts = _flatten(d_outputs)[0] if len(out_refs) > 1 else [d_outputs]
        if len(douts) != len(out_refs):
            raise ValueError(f"{name}: backprop expected {len(out_refs)} output gradients, "
                             f"got {len(douts)}")
        seeds = [(r, np.asarray(value_of(d))) for r, d in zip(out_refs, douts)
                 if r >= 0 and d is not None]
        pidx = [tape.leaves[id(p)] for p in params]
        wanted = set(pidx)
        if need_dx:
            wanted.update(r for r in refs if r >= 0)
        grads, touched = tape.backward(seeds, wanted) if seeds \
            else ([None] * len(tape.nodes), set())
        for p, k in zip(params, pidx):
            g = grads[k]
            if g is None:
                if id(p) not in touched:
                    p.grad[...] = 0
            elif id(p) in touched:
                p.grad += g
            elif g is not p.grad:  # (a vjp may have written it in place already)
                p.grad[...] = g
        dx = [grads[r] if r >= 0 else None for r in refs] if need_dx else None
        tape.clear()
        if not need_dx:
            return None
        out = []
        for d, r, a in zip(dx, refs, leaves):
            if r >= 0:  # in the input's dtype (a float64 constant may have promoted it)
                v = value_of(a)
                d = np.zeros_like(v) if d is None else np.asarray(d, dtype=v.dtype)
            out.append(d)
        return rebuild(out)

    return outputs, backprop
