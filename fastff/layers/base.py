"""The layer contract: ``Param``, ``Workspace`` and ``Layer``.

A layer is configured in ``__init__``, creates its weights in ``build(input_shape)`` (shape without
the batch axis) and runs ``forward(x, training) -> (y, backprop)``; ``backprop(dy, need_dx=True)``
overwrites its params' ``.grad`` and returns ``dx`` (or None). Nothing is cached on the layer
between calls: per-call scratch arrays come from an optional caller-owned ``Workspace``, which the
model keeps per batch size so training allocates nothing per step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from fastff import _auto_config, config, initializers, regularizers
from fastff.layers.symbolic import call_symbolic, first_call, is_symbolic

Backprop = Callable[..., "np.ndarray | None"]

_NAME_COUNTS: dict[str, int] = {}
#: bumped whenever some layer's ``trainable`` flag changes, so models can re-check their
#: flat-buffer layout (trainable params first) with one integer comparison per call
TRAINABLE_VERSION = [0]
#: bumped whenever some layer's ``activation``, ``rate``, ``_mask_seed``, ``epsilon``,
#: ``momentum``, ``scale``, ``offset`` or ``rms_scaling`` is assigned (``_WATCHED``): a
#: compiled-path description built at this version still matches its layers (one integer
#: comparison per ``predict`` instead of a walk over the layers)
SETTINGS_VERSION = [0]
_WATCHED = frozenset(("activation", "rate", "_mask_seed", "epsilon", "momentum", "scale",
                      "offset", "rms_scaling"))


def unique_name(prefix: str) -> str:
    """``dense``, ``dense_1``, ... as Keras names layers."""
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Forget generated names (``fastff.utils.clear_session``)."""
    _NAME_COUNTS.clear()


config.on_clear_session(reset_names)


def _snake(name: str) -> str:
    """Keras's ``to_snake_case``: ``Dense`` → ``dense``, ``LeakyReLU`` → ``leaky_re_lu``,
    ``GlobalAveragePooling1D`` → ``global_average_pooling1d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Param:
    """One weight: ``value`` and ``grad`` are arrays (views into the model's flat buffers once
    the model is built, so read them at call time and never keep them across calls)."""

    __slots__ = ("name", "path", "shape", "value", "grad", "trainable", "regularizer",
                 "initializer", "sparse", "rows", "constraint")

    def __init__(self, name: str, value: np.ndarray, trainable: bool = True,
                 regularizer: regularizers.Regularizer | None = None,
                 initializer: initializers.Initializer | None = None, path: str | None = None):
        self.name = name
        self.path = path or name
        self.shape = tuple(value.shape)
        self.value = value
        self.grad = np.zeros_like(value)
        self.trainable = bool(trainable)
        self.regularizer = regularizer
        self.initializer = initializer
        #: row-sparse gradient (embedding tables): ``grad`` stays the full dense gradient, but
        #: after a backprop only ``grad[rows]`` can be non-zero, so the model lets the
        #: optimizer update just those rows (``Optimizer.apply_rows``) instead of the table.
        self.sparse = False
        self.rows: np.ndarray | None = None
        #: ``w -> projected w`` the optimizer applies after each step (``fastff.constraints``)
        self.constraint: Any = None

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def size(self) -> int:
        return int(self.value.size)

    def numpy(self) -> np.ndarray:
        """A host copy of the value (Keras Variable compatibility)."""
        v = self.value
        return v.copy_to_host() if is_device_array(v) else v.copy()

    def assign(self, value: Any) -> None:
        """Copy ``value`` into the parameter in place (shape must match)."""
        arr = np.asarray(value)
        if arr.shape != self.shape:
            raise ValueError(f"{self.name}: expected shape {self.shape}, got {arr.shape}")
        if is_device_array(self.value):  # one host-to-device copy
            self.value.copy_to_device(np.ascontiguousarray(arr, dtype=self.value.dtype))
        else:
            np.copyto(self.value, arr, casting="unsafe")

    def __repr__(self) -> str:
        return f"<Param {self.path} shape={self.shape} dtype={self.value.dtype}>"

    # -- as an array in user code (custom layers' ``call``): NumPy sees the value, and
    # operators / NumPy functions go through fastff.ops, so they record for gradients
    _fastff_variable = True  # how fastff.ops recognises a weight without importing layers

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = to_host(self.value)
        return v if dtype is None else v.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from fastff.ops._dispatch import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        from fastff.ops._dispatch import array_function

        return array_function(func, args, kwargs)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def T(self) -> Any:  # noqa: N802 (NumPy's name)
        from fastff.ops.shape import transpose

        return transpose(self)

    def __getitem__(self, key: Any) -> Any:
        from fastff.ops.shape import getitem

        return getitem(self, key)


def _op_method(ufunc: Any, reflected: bool = False) -> Callable:
    def method(self: Param, other: Any = None) -> Any:
        from fastff.ops._dispatch import array_ufunc

        args = (self,) if other is None and ufunc in _UNARY_UFUNCS else (
            (other, self) if reflected else (self, other))
        return array_ufunc(ufunc, "__call__", args, {})

    return method


_UNARY_UFUNCS = (np.negative, np.absolute, np.positive)
for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("pow", np.power), ("matmul", np.matmul)):
    setattr(Param, f"__{_name}__", _op_method(_uf))
    setattr(Param, f"__r{_name}__", _op_method(_uf, reflected=True))
for _name, _uf in (("neg", np.negative), ("abs", np.absolute), ("pos", np.positive)):
    setattr(Param, f"__{_name}__", _op_method(_uf))


def is_device_array(x: Any) -> bool:
    """True for an accelerator array (anything that is not a NumPy array but can be copied
    to the host, e.g. a ``numba.cuda`` device array)."""
    return not isinstance(x, np.ndarray) and hasattr(x, "copy_to_host")


def to_host(x: Any) -> Any:
    """``x`` as a host array: device arrays are copied down, everything else passes through."""
    return x.copy_to_host() if is_device_array(x) else x


class Workspace:
    """Scratch arrays a layer reuses across calls of the same batch size (caller-owned).

    ``alloc(shape, dtype)`` (e.g. a device backend's ``ops.alloc``) places them off the host."""

    __slots__ = ("_bufs", "_alloc")

    def __init__(self, alloc: Any = None) -> None:
        self._bufs: dict[str, Any] = {}
        self._alloc = alloc

    def get(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        buf = self._bufs.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            if self._alloc is None:
                buf = np.empty(shape, dtype=dtype)
            else:
                buf = self._alloc(shape, dtype)
            self._bufs[key] = buf
        return buf


def buffer(ws: Workspace | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
    """The workspace array for ``key`` or None (the kernel then allocates)."""
    return None if ws is None else ws.get(key, shape, dtype)



def call_takes_training(cls: type) -> bool:
    """Whether ``cls.call`` accepts ``training`` (by name or ``**kwargs``): Keras passes it
    only then. Cached on the class."""
    takes = cls.__dict__.get("_call_takes_training")
    if takes is None:
        import inspect

        try:
            sig = inspect.signature(cls.call)
            takes = "training" in sig.parameters or any(
                p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        except (TypeError, ValueError):
            takes = True
        cls._call_takes_training = takes
    return takes


class Layer:
    """Base class of all layers (see the module docstring for the contract)."""

    #: name of a trailing softmax/sigmoid a loss may fuse with (then ``forward_logits`` exists)
    output_activation: str | None = None
    #: as the first layer of a model: the fewest dimensions (samples included) it accepts, and
    #: the dtype inputs are converted to (None: the model's float dtype)
    min_input_ndim = 2
    input_dtype: Any = None
    #: a custom layer's sublayers (attributes, lists, dicts) and own weights, set at build
    _sublayers: list = []
    _own_params: list = []
    #: Keras's ``activity_regularizer``: ``reg(output) / batch size`` joins the loss of each
    #: call (``fastff._call_context.regularize_output``)
    activity_regularizer: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WATCHED:
            SETTINGS_VERSION[0] += 1
        object.__setattr__(self, name, value)

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        obj = super().__new__(cls)
        # Keras 3's auto config: a user class without get_config saves its __init__ arguments
        obj.__dict__["_init_args"] = _auto_config.capture(cls, Layer.get_config, args, kwargs)
        return obj

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype: Any = None,
                 input_shape: tuple[int, ...] | None = None, input_dim: int | None = None,
                 batch_input_shape: tuple[int | None, ...] | None = None, **kwargs: Any):
        if "activity_regularizer" in kwargs:  # Keras 3: reg(output) / batch size, a loss
            from fastff import regularizers

            self.activity_regularizer = regularizers.get(kwargs.pop("activity_regularizer"))
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = None if dtype is None else config.standardize_dtype(dtype)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        if input_dim is not None:
            input_shape = (int(input_dim),)
        self._declared_input_shape = None if input_shape is None else _as_shape(input_shape)
        self.params: list[Param] = []
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self._ops: Any = None

    # -- construction -------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...]) -> None:
        """Create weights for inputs of ``input_shape`` (no batch axis). Default: none."""

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape (a custom layer's comes from its build-time dry run)."""
        if self.built and self._is_custom():
            return self._custom_output_shape
        return tuple(input_shape)

    def build_for(self, input_shape: tuple[int, ...], dtype: Any = None) -> tuple[int, ...]:
        """Build once (the model calls this); returns the output shape."""
        input_shape = _as_shape(input_shape)
        if self.built:
            if self.input_shape != input_shape:
                raise ValueError(f"layer {self.name!r} was built for input shape "
                                 f"{self.input_shape}, got {input_shape}")
        else:
            if self.dtype is None or dtype is not None:
                self.dtype = config.standardize_dtype(dtype if dtype is not None else self.dtype)
            if self._is_custom():
                return self._build_custom(input_shape)
            self.build(input_shape)
            self.input_shape = input_shape
            self.built = True
        if self._is_custom():
            return self._custom_output_shape
        return self.compute_output_shape(input_shape)

    # -- custom layers (a ``call`` written with fastff.ops, gradients from the tape) ------
    def call(self, inputs: Any, training: Any = None) -> Any:
        """The forward computation of a custom layer (Keras's ``call``); see ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} defines neither forward nor call")

    @classmethod
    def _is_custom(cls) -> bool:
        """Does this class compute with ``call`` (gradients from the tape) rather than a
        hand-written ``forward``?"""
        c = cls.__dict__.get("_custom_flag")
        if c is None:
            c = cls.call is not Layer.call and cls.forward is Layer.forward
            cls._custom_flag = c
        return c

    def infer_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        """Per-sample output shape, as the functional API needs it before the model builds:
        a custom layer builds here (as Keras builds on a symbolic call)."""
        if self._is_custom():
            return self.build_for(input_shape, self.dtype)
        return self.compute_output_shape(input_shape)

    def _build_custom(self, input_shape: Any) -> tuple[int, ...]:
        """Keras semantics: ``build`` gets shapes with the batch axis; weights of sublayers
        are created by a dry run of ``call`` on a zeros batch (which also gives the output
        shape, as Keras's symbolic call does)."""
        multi = isinstance(input_shape, list)
        batched = [(None, *s) for s in input_shape] if multi else (None, *input_shape)
        self.build(batched)
        self.input_shape = input_shape
        self.built = True
        for layer in tracked_layers(self):  # sublayers compute in this layer's dtype
            if not layer.built:
                layer.dtype = self.dtype
        dtype = self.input_dtype or self.dtype
        if multi:
            dry: Any = [np.zeros((2, *s), dtype=dtype) for s in input_shape]
        else:
            dry = np.zeros((2, *input_shape), dtype=dtype)
        from fastff.ops.tape import paused, value_of

        with np.errstate(all="ignore"), paused():
            y = self.call(dry, **self._call_kwargs(False))

        y = value_of(y)
        if not isinstance(y, np.ndarray):
            raise TypeError(f"layer {self.name!r}: call returned {type(y).__name__}, not an "
                            "array")
        self._own_params = list(self.params)
        subs = tracked_layers(self)
        self._sublayers = subs
        seen = {id(p) for p in self.params}
        for layer in subs:
            for p in layer.params:
                if id(p) not in seen:
                    seen.add(id(p))
                    self.params.append(p)
        self._custom_output_shape = tuple(y.shape[1:])
        return self._custom_output_shape

    def _call_kwargs(self, training: bool) -> dict:
        return {"training": training} if call_takes_training(type(self)) else {}

    def add_weight(self, shape: Any = None, initializer: Any = None, dtype: Any = None,
                   trainable: Any = True, autocast: bool = True, regularizer: Any = None,
                   constraint: Any = None, aggregation: Any = None,
                   name: str | None = None) -> Param:
        """Create a weight (Keras 3's signature); the model later moves it into its flat
        buffer, so optimizers update it and ``save_weights`` stores it. fastff's older
        positional form ``add_weight(name, shape, initializer, regularizer)`` still works."""
        if isinstance(shape, str):  # the older (name, shape, initializer, regularizer) form
            name, shape, initializer = shape, initializer, dtype
            dtype = None
            if not isinstance(trainable, bool):
                regularizer, trainable = trainable, True
        if shape is None:
            shape = ()
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(shape)
        if any(s is None or int(s) < 0 for s in shape):
            raise ValueError(f"layer {self.name!r}: add_weight shape must be fully known "
                             f"non-negative ints, got {shape}")
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        dt = config.standardize_dtype(dtype if dtype is not None else self.dtype)
        pname = name or f"variable_{len(self.params)}"
        param = Param(pname, init(tuple(int(s) for s in shape), dt), trainable=bool(trainable),
                      regularizer=regularizers.get(regularizer), initializer=init,
                      path=f"{self.name}/{pname}")
        if constraint is not None:
            from fastff import constraints

            param.constraint = constraints.get(constraint)
        self.params.append(param)
        return param

    # -- running ------------------------------------------------------------------------
    @property
    def ops(self) -> Any:
        if self._ops is None:
            from fastff.backend import get_ops

            self._ops = get_ops()
        return self._ops

    @ops.setter
    def ops(self, value: Any) -> None:
        self._ops = value

    def lower(self, builder: Any) -> bool:
        """Describe this layer's compiled form to ``builder`` (the compiled engine's
        ``StackBuilder``: ``dense``, ``dropout``, ``activation``, ``identity``) and return
        whether it could; the default, False, keeps a model with this layer on the general
        engine. A subclass that redefines ``forward``/``call``/``build`` must define its own
        ``lower`` to be lowered (``training.compiled.lowers``)."""
        return False

    def forward(self, x: np.ndarray, training: bool = False,
                ws: Workspace | None = None) -> tuple[np.ndarray, Backprop]:
        """``(y, backprop)``; ``backprop(dy, need_dx=True)`` returns ``dx`` or None.

        A custom layer (one that defines ``call``) gets this from the tape: ``call`` runs
        under ``fastff.ops.tape.forward_call`` and ``backprop`` replays its ops' VJPs."""
        if not self._is_custom():
            raise NotImplementedError(f"{type(self).__name__} defines neither forward nor call")
        if is_device_array(x) or (self.params and is_device_array(self.params[0].value)):
            raise NotImplementedError(f"layer {self.name!r}: custom layers (a call written "
                                      "with fastff.ops) run on the CPU only; train this model "
                                      "with device='cpu'")
        from fastff.ops.tape import forward_call

        kwargs = self._call_kwargs(bool(training))
        call = self.call
        y, bp = forward_call(lambda inputs: call(inputs, **kwargs), x, self.params,
                             bool(training), name=f"layer {self.name!r} ({type(self).__name__})"
                             ".call")
        if not isinstance(y, np.ndarray):
            raise TypeError(f"layer {self.name!r}: call returned {type(y).__name__}; a layer "
                            "in a model must return one array")
        dt = self.dtype
        if y.dtype.kind == "f" and dt is not None and y.dtype != dt:
            # a float64 constant promoted a float32 computation: back to the layer's dtype
            # (as Keras autocasts), and the incoming gradient to what the tape recorded
            src = y.dtype
            y = y.astype(dt)

            def backprop(dy: Any, need_dx: bool = True) -> Any:
                return bp(np.asarray(dy, dtype=src), need_dx)

            return y, backprop
        return y, bp

    def __call__(self, x: Any, training: Any = None, **kwargs: Any) -> Any:
        """Forward without backprop, building on first use (for users). On a symbolic input
        (``fastff.Input`` or another layer's symbolic output) it records a functional-API node.
        Inside recorded code (a custom layer's ``call``, a ``GradientTape``) it is one tape
        node whose VJP is this layer's ``backprop``; ``training`` defaults to the caller's.
        The one entry point: layers change how a concrete input is taken in ``_eager_call``."""
        from fastff.ops import tape

        if tape.is_recording():
            if kwargs:
                raise NotImplementedError(
                    f"layer {self.name!r}: {', '.join(sorted(kwargs))}= is not supported "
                    "inside recorded code (a custom layer's call, a GradientTape)")
            if training is None:
                training = tape.call_training()
            return tape.record_layer(self, x, bool(training))
        if is_symbolic(x):
            return call_symbolic(self, x)
        if training is None:
            training = tape.call_training() or False
        return self._eager_call(x, training, **kwargs)

    def _eager_call(self, x: Any, training: bool = False) -> Any:
        """``layer(x)`` on a concrete input: convert, build on first use, forward."""
        from fastff.ops.tape import value_of

        if isinstance(x, (list, tuple)) and (getattr(self, "multi_input", False)
                                             or self._is_custom()):
            arrs = [np.asarray(value_of(a)) for a in x]
            if not self.built:
                self.build_for([a.shape[1:] for a in arrs], self.dtype)
            y, _ = self.forward([np.ascontiguousarray(a, dtype=self.dtype)
                                 if a.dtype.kind == "f" else a for a in arrs], training)
            return y
        arr = np.asarray(value_of(x))
        if not self.built:
            self.build_for(arr.shape[1:], self.dtype)
        if self.input_dtype is None or arr.dtype.kind == "f":
            arr = np.ascontiguousarray(arr, dtype=self.dtype)
        y, bp = self.forward(arr, training)
        if self.activity_regularizer is not None:  # its loss, in ``losses`` as Keras
            from fastff._call_context import regularize_output

            regularize_output(self, y, bp)
        return y

    def add_loss(self, value: Any) -> None:
        """Add ``value`` (a scalar computed with ``fastff.ops`` in ``call``) to the loss of the
        subclassed model running this layer; outside one it is kept in ``losses``."""
        from fastff import _call_context

        if not _call_context.add_loss(value):
            self.__dict__.setdefault("_eager_losses", []).append(value)

    @property
    def losses(self) -> list:
        """Losses added with ``add_loss`` outside a model's training step, then (as Keras)
        the activity-regularizer loss of this layer's last call."""
        return list(self.__dict__.get("_eager_losses", [])) + \
            list(self.__dict__.get("_activity_losses", []))

    # -- the functional graph -----------------------------------------------------------
    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call (a functional model, or a
        ``Sequential`` with a known input shape), e.g. for ``Model(inputs, layer.output)``."""
        return first_call(self, "input")[0]

    @property
    def output(self) -> Any:
        """The symbolic output of this layer's first call (see ``input``)."""
        return first_call(self, "output")[1]

    # -- weights ------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        TRAINABLE_VERSION[0] += 1

    @property
    def trainable_params(self) -> list[Param]:
        subs = self._sublayers
        if not subs:
            return [p for p in self.params if p.trainable and self._trainable]
        if not self._trainable:
            return []
        out = [p for p in self._own_params if p.trainable]
        seen = {id(p) for p in out}
        for layer in subs:
            out += [p for p in layer.trainable_params if id(p) not in seen]
            seen.update(id(p) for p in out)
        return out

    @property
    def non_trainable_params(self) -> list[Param]:
        if not self._sublayers:
            return [p for p in self.params if not (p.trainable and self._trainable)]
        train = {id(p) for p in self.trainable_params}
        return [p for p in self.params if id(p) not in train]

    @property
    def weights(self) -> list[Param]:
        return self.trainable_params + self.non_trainable_params

    @property
    def trainable_weights(self) -> list[Param]:
        return self.trainable_params

    @property
    def non_trainable_weights(self) -> list[Param]:
        return self.non_trainable_params

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in creation order (as Keras)."""
        return [p.numpy() for p in self.params]

    def set_weights(self, weights: list[Any]) -> None:
        if len(weights) != len(self.params):
            raise ValueError(f"layer {self.name!r} expects {len(self.params)} weight arrays, "
                             f"got {len(weights)}")
        for p, w in zip(self.params, weights):
            p.assign(w)

    def count_params(self) -> int:
        return sum(p.size for p in self.params)

    # -- config -------------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype.name
        if self._declared_input_shape is not None:
            cfg["input_shape"] = list(self._declared_input_shape)
        if self.activity_regularizer is not None:  # as Keras: only when set
            from fastff import regularizers

            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self.__dict__.get("_init_args") is not None:
            cfg = _auto_config.auto_config(self, cfg)
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> Layer:
        if _auto_config.capture(cls, Layer.get_config, (), {}) is not None:
            cfg = _auto_config.revive(cfg)
        try:
            return cls(**cfg)
        except TypeError as e:
            if cls._is_custom() or cls.__module__.split(".")[0] != "fastff":
                raise TypeError(
                    f"layer class {cls.__name__} cannot be rebuilt from its config ({e}); "
                    "give it a get_config() that returns its __init__ arguments (and a "
                    "from_config() if they are not plain values)") from e
            raise

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _as_shape(shape: Any) -> Any:
    """A per-sample shape as a tuple of ints; a list of shapes (a layer taking a list of
    inputs) as a list of such tuples."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    if isinstance(shape, list) and shape and all(isinstance(s, (tuple, list)) for s in shape):
        return [_as_shape(s) for s in shape]
    out = tuple(shape)
    if any(s is None for s in out):
        raise ValueError(f"input shape must be fully known (no None), got {out}")
    return tuple(int(s) for s in out)


#: a layer's attributes that hold its own bookkeeping, never tracked sublayers
UNTRACKED = frozenset(("_ops", "_sublayers", "_own_params", "params", "_symbolic_calls"))


def tracked_layers(obj: Any) -> list[Layer]:
    """The layers ``obj`` holds in its attributes, in assignment order, including inside
    lists, tuples and dicts (Keras's automatic tracking); each once, ``obj`` excluded."""
    out: list[Layer] = []
    seen = {id(obj)}

    def visit(v: Any, depth: int) -> None:
        if isinstance(v, Layer):
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        elif depth < 4 and isinstance(v, (list, tuple)):
            for item in v:
                visit(item, depth + 1)
        elif depth < 4 and isinstance(v, dict):
            for item in v.values():
                visit(item, depth + 1)

    for k, v in vars(obj).items():
        if k not in UNTRACKED:
            visit(v, 0)
    return out


#: what a class's own methods of these names mean: a subclass that redefines any of them has
#: its own computation and must declare its own ``lower`` to be lowered
COMPUTE_METHODS = ("forward", "forward_logits", "call", "build", "_forward")


def lowers(obj: Any, names: tuple = COMPUTE_METHODS) -> bool:
    """Whether ``obj.lower`` describes its class: no class below the one defining ``lower``
    redefines how the object computes (a user subclass of ``Dense`` with its own ``forward``
    stays on the general engine). A layer with an ``activity_regularizer`` never lowers: its
    loss term and gradient are the general engine's (``_call_context.regularize_output``)."""
    if getattr(obj, "activity_regularizer", None) is not None:
        return False
    for cls in type(obj).__mro__:
        if "lower" in cls.__dict__:
            return True
        if any(n in cls.__dict__ for n in names):
            return False
    return False
