"""Optimizer base: learning rate (float or schedule), Keras clipping, state for saving.

An optimizer updates the trainable prefix of a model's flat parameter buffer from the flat
gradient buffer in one Ops kernel call per step (one call per variable only when
``clipnorm`` asks for per-variable norms). Keras 3 semantics: gradients are clipped, then
weights decayed by ``lr * weight_decay``, then the update runs, then ``iterations += 1``.

A built-in optimizer declares its update in packed form (``packed``: a ``backend.scalar``
code, its state buffers, its constants; ``step_scalars``: the per-step learning rate, Adam's
bias-corrected alpha, and ``lr * weight_decay``). The general update hands exactly that to
``ops.optimizer_step``, and the compiled training path hands the same to the same kernel.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from fastff._validation import check_real
from fastff.backend import scalar as _scalar
from fastff.backend.numpy_ops import flush_threshold
from fastff.optimizers import schedules as _schedules

__all__ = ["Optimizer"]


def _positive_or_none(name: str, value: Any) -> float | None:
    return check_real(value, name, low=0.0, low_open=True, allow_none=True)


class LearningRateValue(float):
    """``optimizer.learning_rate``: a float with Keras 3's variable methods (``assign``,
    ``numpy``, ``value``), since Keras scripts call ``model.optimizer.learning_rate.assign(x)``."""

    __slots__ = ("_optimizer",)

    def __new__(cls, value: float, optimizer: Any) -> LearningRateValue:
        obj = super().__new__(cls, value)
        obj._optimizer = optimizer
        return obj

    def assign(self, value: Any) -> None:
        """Set the optimizer's learning rate (this float keeps the value it was read with)."""
        self._optimizer.learning_rate = float(np.asarray(value))

    def numpy(self) -> np.ndarray:
        return np.asarray(float(self), dtype=np.float32)

    @property
    def value(self) -> float:
        return float(self)

    def __reduce__(self) -> Any:  # pickles / deep-copies as a plain float
        return (float, (float(self),))


class IterationsValue(int):
    """``optimizer.iterations``: an int with Keras 3's variable methods (``numpy``,
    ``value``, ``assign``), since Keras scripts read ``optimizer.iterations.numpy()``."""

    def __new__(cls, value: int, optimizer: Any) -> IterationsValue:
        obj = super().__new__(cls, value)
        obj._optimizer = optimizer
        return obj

    def assign(self, value: Any) -> None:
        """Set the optimizer's step count (this int keeps the value it was read with)."""
        self._optimizer.iterations = int(np.asarray(value))

    def numpy(self) -> np.int64:
        return np.int64(self)

    @property
    def value(self) -> int:
        return int(self)

    def __reduce__(self) -> Any:  # pickles / deep-copies as a plain int
        return (int, (int(self),))


class OptimizerVariable:
    """One entry of ``optimizer.variables``: Keras 3's name, path and shape over a piece of
    the optimizer's state, with Keras's variable methods (``numpy``, ``value``, ``assign``)."""

    def __init__(self, name: str, path: str, shape: tuple[int, ...], dtype: Any,
                 read: Any, write: Any) -> None:
        self.name, self.path, self.shape, self.dtype = name, path, tuple(shape), np.dtype(dtype)
        self._read, self._write = read, write

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return np.array(self._read(), dtype=self.dtype).reshape(self.shape)

    @property
    def value(self) -> np.ndarray:
        return self.numpy()

    def assign(self, value: Any) -> None:
        """Write ``value`` (broadcast to the shape) into the optimizer's state."""
        self._write(np.broadcast_to(np.asarray(value, dtype=self.dtype), self.shape))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"<OptimizerVariable path={self.path} shape={self.shape} dtype={self.dtype.name}>"


class Optimizer:
    """Base class. A built-in subclass sets ``_code`` (its ``backend.scalar`` element body)
    and defines ``_slots()``, ``_packed_constants()`` and ``get_config``; a custom one may
    instead define ``_buffer_names()`` and ``_update`` (it then has no packed form and
    trains on the general path only)."""

    #: the ``backend.scalar`` optimizer code of the packed update (None: no packed form)
    _code: int | None = None

    def __init__(
        self, learning_rate: Any = 0.001, *, weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None,
        global_clipnorm: float | None = None, name: str | None = None, ops: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.",
                          stacklevel=2)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = check_real(weight_decay, "weight_decay", low=0.0, allow_none=True)
        self.clipnorm = _positive_or_none("clipnorm", clipnorm)
        self.clipvalue = _positive_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _positive_or_none("global_clipnorm", global_clipnorm)
        self._learning_rate: Any = None
        self._set_lr(learning_rate)
        self.iterations = 0
        self._ops = ops
        self.built = False
        self.n_params = 0
        self.dtype: np.dtype | None = None
        self.slots: list[tuple[int, int]] = []
        self._buffers: dict[str, np.ndarray] = {}
        #: ``(weight, constraint)`` pairs applied after every step (the model sets them from
        #: its layers' ``*_constraint`` arguments); with any, the update is not elementwise
        #: and has no compiled form
        self.constraints: list[tuple[Any, Any]] = []

    # ------------------------------------------------------------ learning rate
    def _set_lr(self, value: Any) -> None:
        if isinstance(value, dict):
            value = _schedules.deserialize(value)
        if callable(value):
            self._learning_rate = value
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            raise ValueError(
                "Argument `learning_rate` should be a float, a LearningRateSchedule or a "
                f"callable step -> float. Received: learning_rate={value!r}")
        self._learning_rate = float(check_real(value, "learning_rate", low=0.0))

    @property
    def iterations(self) -> int:
        """The number of updates applied so far (an int that also has Keras's variable
        methods ``numpy``/``value``/``assign``)."""
        return IterationsValue(self._iterations, self)

    @iterations.setter
    def iterations(self, value: Any) -> None:
        self._iterations = int(value)

    @property
    def learning_rate(self) -> float:
        """The learning rate used by the next step (a schedule is evaluated at ``iterations``).

        A float that also has Keras's variable methods, so ``opt.learning_rate.assign(1e-4)``
        and ``.numpy()`` work as in Keras 3 (assigning sets the optimizer's rate).
        """
        lr = self._learning_rate
        return LearningRateValue(float(lr(self.iterations)) if callable(lr) else lr, self)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if callable(self._learning_rate) and not callable(value):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule as its `learning_rate`, "
                "hence its learning rate is not settable.")
        self._set_lr(value)

    @property
    def ops(self) -> Any:
        """The Ops backend running the update kernels (default: ``fastff.backend.get_ops()``)."""
        if self._ops is None:
            from fastff.backend import get_ops

            self._ops = get_ops()
        return self._ops

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value

    def _lr_at(self, iteration: int) -> float:
        lr = self._learning_rate
        return float(lr(iteration)) if callable(lr) else lr

    # ------------------------------------------------------------ packed form
    def _slots(self) -> tuple[str | None, ...]:
        """The state buffers ``(b0, b1, b2)`` of the packed update, by name (None: unused in
        this configuration)."""
        return ()

    def _packed_constants(self) -> tuple[float, ...]:
        """The optimizer's own constants of the packed update (``backend.scalar``)."""
        raise NotImplementedError

    def packed(self, bufs: dict[str, Any] | None = None) -> tuple[int, tuple, np.ndarray] | None:
        """``(code, (b0, b1, b2), consts)``: this optimizer's update as the backend kernels
        and the compiled training step take it (``bufs``: the state buffers or views of
        them; default all). None when there is no packed form (no ``_code``, or a subclass
        overrides ``_update``) or the optimizer is not built."""
        if self._code is None or type(self)._update is not Optimizer._update or not self.built \
                or self.constraints:
            return None
        return self._pack(self._buffers if bufs is None else bufs, self.dtype)

    def _pack(self, bufs: dict[str, Any], dtype: np.dtype) -> tuple[int, tuple, np.ndarray]:
        names = self._slots()
        state = tuple(None if n is None else bufs[n] for n in names) + (None,) * (3 - len(names))
        consts = _scalar.pack_consts(self.clipvalue, flush_threshold(dtype),
                                     self._packed_constants())
        return self._code, state, np.array(consts, np.float64)

    def step_scalars(self, iteration: int, lr: float | None = None) -> tuple[float, float]:
        """``(rate, lr * weight_decay)`` of the step numbered ``iteration`` (0-based): rate is
        the learning rate (Adam: its bias-corrected alpha). ``lr``: the schedule's value at
        ``iteration`` when the caller has it."""
        if lr is None:
            lr = self._lr_at(iteration)
        return lr, lr * (self.weight_decay or 0.0)

    def step_scalars_range(self, it0: int, k: int) -> np.ndarray:
        """``step_scalars(it)`` for ``it`` in ``[it0, it0 + k)`` as a C-contiguous (k, 2)
        float64 array: what one compiled call of ``k`` steps reads."""
        vals = chain.from_iterable(map(self.step_scalars, range(it0, it0 + k)))
        return np.fromiter(vals, np.float64, 2 * k).reshape(k, 2)

    # ------------------------------------------------------------------- build
    def _buffer_names(self) -> tuple[str, ...]:
        """Names of the per-parameter state buffers this configuration needs."""
        return tuple(n for n in self._slots() if n is not None)

    def _buffer_init(self, name: str) -> float:
        """Initial value of a state buffer."""
        return 0.0

    def build(self, n_params: int, dtype: Any = np.float32,
              slots: Sequence[tuple[int, int]] | None = None) -> None:
        """Allocate state for ``n_params`` trainable scalars of ``dtype``.

        ``slots`` lists the ``(offset, size)`` of each trainable variable inside the flat
        buffer (needed only for per-variable ``clipnorm``); default: one variable.
        """
        self.n_params = int(n_params)
        self.dtype = np.dtype(dtype)
        self.slots = [(int(o), int(s)) for o, s in (slots or [(0, self.n_params)])]
        self._buffers = {}
        for name in self._buffer_names():
            buf = self.ops.alloc(self.n_params, self.dtype)
            init = self._buffer_init(name)
            if init:
                buf[...] = init
            self._buffers[name] = buf
        self.built = True

    # ------------------------------------------------------------------- apply
    def apply(self, params_flat: np.ndarray, grads_flat: np.ndarray,
              n_dense: int | None = None) -> None:
        """One update of ``params_flat[:n_params]`` from ``grads_flat[:n_params]``.

        ``n_dense`` stops the dense pass early: a model puts row-sparse tables after the first
        ``n_dense`` entries and updates them with ``apply_rows`` before calling ``apply``.
        """
        if not self.built:
            self.build(params_flat.size, params_flat.dtype)
        n = self.n_params if n_dense is None else min(int(n_dense), self.n_params)
        p = params_flat if params_flat.size == n else params_flat[:n]
        g = grads_flat if grads_flat.size == n else grads_flat[:n]
        bufs = self._buffers if n == self.n_params else {k: v[:n] for k, v in self._buffers.items()}
        lr = self._lr_at(self.iterations)
        wd = self.weight_decay or 0.0
        if n and self.clipnorm is not None:
            c = self.clipnorm
            for off, size in self.slots:
                if off + size > n:  # a row-sparse table, updated by apply_rows
                    continue
                sl = slice(off, off + size)
                norm = math.sqrt(self.ops.sq_norm(g[sl]))
                slot_bufs = {k: v[sl] for k, v in bufs.items()}
                self._update(slot_bufs, p[sl], g[sl], lr, wd, c / max(norm, c), None)
        elif n:
            scale = 1.0
            if self.global_clipnorm is not None:
                c = self.global_clipnorm
                norm = math.sqrt(self.ops.sq_norm(g))
                scale = c / max(norm, c) if not math.isnan(norm) else math.nan
            self._update(bufs, p, g, lr, wd, scale, self.clipvalue)
        self.iterations += 1
        self.apply_constraints()

    def apply_constraints(self) -> None:
        """Project each constrained weight (``constraints``) in place, after a step, as Keras
        assigns ``constraint(variable)`` after ``apply_gradients``."""
        for param, constraint in self.constraints:
            value = param.value
            if not isinstance(value, np.ndarray):
                raise NotImplementedError(f"weight {param.path!r}: constraints run on the CPU "
                                          "only; train this model with device='cpu'")
            value[...] = constraint(value)

    @property
    def elementwise(self) -> bool:
        """Whether one update touches each scalar independently (no norm over a variable or
        over all of them, no constraint): then any slice of the flat buffer can be updated on
        its own."""
        return self.clipnorm is None and self.global_clipnorm is None and not self.constraints

    def apply_slice(self, params_flat: np.ndarray, grad_slice: np.ndarray, lo: int, hi: int,
                    grad_scale: float = 1.0) -> None:
        """One update of ``params_flat[lo:hi]`` (and the matching state) from ``grad_slice``
        times ``grad_scale``; counts as one step. Data-parallel ranks each update their own
        slice of an ``elementwise`` optimizer (ZeRO stage 1): the other slices' state on this
        rank is left as it was."""
        if not self.elementwise:
            raise ValueError("apply_slice needs an elementwise update (no clipnorm / "
                             "global_clipnorm)")
        if not self.built:
            raise ValueError("apply_slice: the optimizer is not built")
        if not 0 <= lo <= hi <= self.n_params or grad_slice.size != hi - lo:
            raise ValueError(f"apply_slice: slice [{lo}, {hi}) of {self.n_params} parameters "
                             f"with {grad_slice.size} gradient values")
        if hi > lo:
            lr = self._lr_at(self.iterations)
            bufs = {k: v[lo:hi] for k, v in self._buffers.items()}
            self._update(bufs, params_flat[lo:hi], grad_slice, lr, self.weight_decay or 0.0,
                         grad_scale, self.clipvalue)
        self.iterations += 1

    def apply_rows(self, params_flat: np.ndarray, grads_flat: np.ndarray, offset: int,
                   shape: tuple[int, ...], rows: np.ndarray | None) -> None:
        """Lazy update of the rows ``rows`` of the table of ``shape`` stored at ``offset``.

        Call it before the step's ``apply`` (it uses the same step number). Semantics are
        *lazy*, as TF's LazyAdam and PyTorch's SparseAdam: the touched rows get exactly the
        dense update (with the global step's bias correction); every other row keeps its value
        *and* its optimizer state (moments are not decayed). For SGD without momentum and for
        Adagrad this equals the dense step. ``clipvalue`` applies to the rows, ``clipnorm`` to
        the table's gradient (whose norm is that of its rows), ``weight_decay`` to the touched
        rows only; ``global_clipnorm`` leaves tables unscaled. ``rows=None``: every row.
        """
        if not self.built:
            raise ValueError("apply_rows: the optimizer is not built")
        size = int(np.prod(shape))
        n_rows = int(shape[0]) if shape else 1
        width = size // max(n_rows, 1)
        sl = slice(int(offset), int(offset) + size)
        idx = np.arange(n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            return
        table = params_flat[sl].reshape(n_rows, width)
        grad = grads_flat[sl].reshape(n_rows, width)
        state = {k: v[sl].reshape(n_rows, width) for k, v in self._buffers.items()}
        lr = self._lr_at(self.iterations)
        scale = 1.0
        if self.clipnorm is not None:
            c = self.clipnorm
            scale = c / max(math.sqrt(self.ops.sq_norm(grad[idx])), c)
        wd = self.weight_decay or 0.0
        # a fused in-place row kernel when the optimizer has one, else gather-update-scatter
        if self._update_rows(state, table, grad, idx, lr, wd, scale, self.clipvalue):
            return
        pr = table[idx]
        gr = grad[idx]
        bufs = {k: v[idx].reshape(-1) for k, v in state.items()}
        self._update(bufs, pr.reshape(-1), gr.reshape(-1), lr, wd, scale, self.clipvalue)
        table[idx] = pr
        for k, v in state.items():
            v[idx] = bufs[k].reshape(-1, width)

    def _update_rows(self, state: dict[str, np.ndarray], table: np.ndarray, grad: np.ndarray,
                     rows: np.ndarray, lr: float, weight_decay: float, grad_scale: float,
                     clipvalue: float | None) -> bool:
        """Update ``table[rows]`` and its 2-D ``state`` in place with a fused row kernel;
        return False when there is none (``apply_rows`` then gathers, updates, scatters)."""
        return False

    def _update(self, bufs: dict[str, np.ndarray], params: np.ndarray, grads: np.ndarray,
                lr: float, weight_decay: float, grad_scale: float,
                clipvalue: float | None) -> None:
        """Update ``params`` in place; ``bufs`` holds the matching part of each state buffer.
        Built-ins: the packed update, one ``ops.optimizer_step``."""
        if self._code is None:
            raise NotImplementedError(f"{type(self).__name__} defines no update")
        code, state, consts = self._pack(bufs, params.dtype)
        if clipvalue != self.clipvalue:
            consts[0] = math.inf if clipvalue is None else clipvalue
        rate = self.step_scalars(self.iterations, lr)[0]
        self.ops.optimizer_step(code, params, grads, state, consts, rate, lr * weight_decay,
                                grad_scale)

    # ------------------------------------------------------------ Keras's variables
    def _keras_weights(self) -> list[tuple[str, tuple, int, int]]:
        """``(Keras path, shape, offset, size)`` of each trainable weight the optimizer was
        last built over (``Model._build_optimizer`` records the layout; made here, when
        ``variables`` is read, not on every ``fit``)."""
        layout = getattr(self, "_keras_layout", None)
        if layout is None:
            return []
        prefix, placement, n = layout
        return [(prefix + p.path, p.shape, o, p.size) for p, o in placement[:n]]

    @property
    def variables(self) -> list[OptimizerVariable]:
        """Keras 3's ``optimizer.variables``: ``iteration``, ``learning_rate`` (not with a
        schedule), then the slot variables in Keras's order (each ``add_optimizer_variables``
        group over the trainable weights in turn: Adam's ``kernel_momentum,
        kernel_velocity, bias_momentum, ...``), named ``<weight path with _>_<slot>``. Before
        a model builds it, the first two only. Each reads and writes the live state."""
        from fastff.keras_format.layout import optimizer_groups

        dt = self.dtype or np.dtype(np.float32)
        out = [OptimizerVariable("iteration", f"{self.name}/iteration", (), np.int64,
                                 lambda: self.iterations,
                                 lambda v: setattr(self, "iterations", int(v)))]
        if not callable(self._learning_rate):
            out.append(OptimizerVariable("learning_rate", f"{self.name}/learning_rate", (), dt,
                                         lambda: self.learning_rate,
                                         lambda v: setattr(self, "learning_rate", float(v))))
        weights = self._keras_weights()
        if not self.built or not weights:
            return out
        groups = optimizer_groups(self)
        if groups is None:  # no Keras layout (Nadam, custom): one group of fastff's buffers
            groups = [list(self._buffer_names())]
        for group in groups:
            for wpath, shape, off, size in weights:
                for slot in group:
                    name = f"{wpath.replace('/', '_')}_{slot}"
                    out.append(OptimizerVariable(
                        name, f"{self.name}/{name}", shape, dt,
                        lambda s=slot, o=off, n=size: self.ops.to_numpy(self._buffers[s])[o:o + n],
                        lambda v, s=slot, o=off, n=size: self._write_slot(s, o, n, v)))
        return out

    def _write_slot(self, name: str, off: int, size: int, value: np.ndarray) -> None:
        state = self.get_state()
        state[name][off:off + size] = np.asarray(value).reshape(-1)
        self.set_state(state)

    # ------------------------------------------------------------ state/config
    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of the iteration count and every state buffer (for saving/resuming)."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, buf in self._buffers.items():
            state[name] = np.array(self.ops.to_numpy(buf), copy=True)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned; builds the optimizer when needed.

        A state with no buffers at iteration 0 is what an optimizer saved before its first
        step returns (compile, save, load): the buffers start at their initial values.
        """
        names = self._buffer_names()
        iterations = int(np.asarray(state.get("iterations", 0)))
        if names and iterations == 0 and not any(k in state for k in names):
            if self.built:
                for name in names:
                    self._buffers[name][...] = self._buffer_init(name)
            self.iterations = 0
            return
        if not self.built:
            sizes = {np.asarray(state[k]).size for k in names if k in state}
            if sizes:
                dtype = np.asarray(state[names[0]]).dtype if names[0] in state else np.float32
                self.build(sizes.pop(), dtype)
        for name in names:
            if name not in state:
                raise ValueError(f"Optimizer state is missing {name!r}")
            value = np.asarray(state[name])
            if value.size != self._buffers[name].size:
                raise ValueError(f"Optimizer state {name!r} has {value.size} values, "
                                 f"expected {self._buffers[name].size}")
            self._buffers[name][...] = value.reshape(-1).astype(self.dtype, copy=False)
        if "iterations" in state:
            self.iterations = iterations

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (a schedule is serialized as a dict)."""
        lr = self._learning_rate
        if callable(lr):
            if not hasattr(lr, "get_config"):
                raise ValueError("A plain-callable learning rate cannot be serialized; "
                                 "use a fastff.optimizers.schedules class")
            lr = _schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Instance from ``get_config()`` output."""
        config = dict(config)
        for key in ("use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                    "gradient_accumulation_steps", "is_legacy_optimizer"):
            config.pop(key, None)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate}>"
