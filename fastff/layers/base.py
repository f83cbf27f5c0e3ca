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

from fastff import config, initializers, regularizers

Backprop = Callable[..., "np.ndarray | None"]

_NAME_COUNTS: dict[str, int] = {}
#: bumped whenever some layer's ``trainable`` flag changes, so models can re-check their
#: flat-buffer layout (trainable params first) with one integer comparison per call
TRAINABLE_VERSION = [0]
#: bumped whenever some layer's ``activation``, ``rate`` or ``_mask_seed`` is assigned: a
#: compiled-path description built at this version still matches its layers (one integer
#: comparison per ``predict`` instead of a walk over the layers)
SETTINGS_VERSION = [0]
_WATCHED = frozenset(("activation", "rate", "_mask_seed"))


def unique_name(prefix: str) -> str:
    """``dense``, ``dense_1``, ... as Keras names layers."""
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Forget generated names (``fastff.utils.clear_session``)."""
    _NAME_COUNTS.clear()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Param:
    """One weight: ``value`` and ``grad`` are arrays (views into the model's flat buffers once
    the model is built, so read them at call time and never keep them across calls)."""

    __slots__ = ("name", "path", "shape", "value", "grad", "trainable", "regularizer",
                 "initializer", "sparse", "rows")

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


class Layer:
    """Base class of all layers (see the module docstring for the contract)."""

    #: name of a trailing softmax/sigmoid a loss may fuse with (then ``forward_logits`` exists)
    output_activation: str | None = None
    #: as the first layer of a model: the fewest dimensions (samples included) it accepts, and
    #: the dtype inputs are converted to (None: the model's float dtype)
    min_input_ndim = 2
    input_dtype: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WATCHED:
            SETTINGS_VERSION[0] += 1
        object.__setattr__(self, name, value)

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype: Any = None,
                 input_shape: tuple[int, ...] | None = None, input_dim: int | None = None,
                 batch_input_shape: tuple[int | None, ...] | None = None, **kwargs: Any):
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
            self.build(input_shape)
            self.input_shape = input_shape
            self.built = True
        return self.compute_output_shape(input_shape)

    def add_weight(self, name: str | None = None, shape: tuple[int, ...] = (),
                   initializer: Any = "glorot_uniform", regularizer: Any = None,
                   trainable: bool = True, dtype: Any = None) -> Param:
        """Create a weight; the model later moves it into its flat buffer."""
        init = initializers.get(initializer)
        dt = config.standardize_dtype(dtype if dtype is not None else self.dtype)
        pname = name or f"variable_{len(self.params)}"
        param = Param(pname, init(tuple(shape), dt), trainable=trainable,
                      regularizer=regularizers.get(regularizer), initializer=init,
                      path=f"{self.name}/{pname}")
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

    def forward(self, x: np.ndarray, training: bool = False,
                ws: Workspace | None = None) -> tuple[np.ndarray, Backprop]:
        """``(y, backprop)``; ``backprop(dy, need_dx=True)`` returns ``dx`` or None."""
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """Forward without backprop, building on first use (for users). On a symbolic input
        (``fastff.Input`` or another layer's symbolic output) it records a functional-API node."""
        from fastff.functional import call_symbolic, is_symbolic

        if is_symbolic(x):
            return call_symbolic(self, x)
        arr = np.asarray(x)
        if not self.built:
            self.build_for(arr.shape[1:], self.dtype)
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        y, _ = self.forward(arr, training)
        return y

    def add_loss(self, value: Any) -> None:
        """Add ``value`` (a scalar computed with ``fastff.ops`` in ``call``) to the loss of the
        subclassed model running this layer; outside one it is kept in ``losses``."""
        from fastff import _call_context

        if not _call_context.add_loss(value):
            self.__dict__.setdefault("_eager_losses", []).append(value)

    @property
    def losses(self) -> list:
        """Losses added with ``add_loss`` outside a model's training step."""
        return list(self.__dict__.get("_eager_losses", []))

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
        return [p for p in self.params if p.trainable and self._trainable]

    @property
    def non_trainable_params(self) -> list[Param]:
        return [p for p in self.params if not (p.trainable and self._trainable)]

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
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> Layer:
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _as_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    out = tuple(shape)
    if any(s is None for s in out):
        raise ValueError(f"input shape must be fully known (no None), got {out}")
    return tuple(int(s) for s in out)
