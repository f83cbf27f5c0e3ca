"""Activation functions, resolved by name like Keras (``"relu"``) or passed as objects.

Each activation is an :class:`ActivationFunction` object: callable on arrays for users
(``fastff.activations.relu(x)``), and used by layers through ``forward``/``backward``, which
dispatch to ``ops.activation`` / ``ops.backprop_activation``. ``fused`` marks those that
``ops.dense`` applies in the GEMM epilogue *and* whose derivative needs only the output ``y``,
so a Dense layer can skip keeping its pre-activation.

Custom activations subclass :class:`ActivationFunction` and override ``call`` and ``grad``
(NumPy code); they are never fused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.backend import spec

__all__ = [
    "ActivationFunction", "CustomActivation", "linear", "sigmoid", "tanh", "relu", "leaky_relu",
    "elu", "selu", "gelu", "softplus", "softsign", "silu", "swish", "hard_sigmoid", "exponential",
    "softmax", "log_softmax", "relu6", "mish", "hard_silu", "hard_swish", "hard_tanh",
    "log_sigmoid", "celu", "hard_shrink", "soft_shrink", "tanh_shrink", "sparse_plus",
    "sparse_sigmoid", "squareplus", "sparsemax", "glu", "threshold", "get", "serialize",
    "deserialize",
]

# the one scalar parameter each parametrised activation takes (Keras's keyword names)
_PARAM_NAMES = {n: r.param for n, r in spec.ACTIVATIONS.items() if r.param is not None}


class ActivationFunction:
    """An elementwise (or, for softmax, row-wise) activation with a named kernel pair.

    ``param`` is the activation's one scalar parameter (leaky_relu's negative slope, elu's alpha).
    """

    builtin = True

    def __init__(self, name: str, param: float = 0.0):
        self.name = name
        self.param = float(param)

    @property
    def fused(self) -> bool:
        """True when ``ops.dense`` can apply it and ``backward`` needs only ``y``
        (``spec.fuses``: e.g. not a negative leaky_relu slope, whose y hides x's sign)."""
        return self.builtin and spec.fuses(self.name, self.param)

    def out_features(self, features: int) -> int:
        """Width of the last axis of the output for ``features`` inputs (glu: half)."""
        return spec.out_features(self.name, features) if self.builtin else features

    def check_features(self, features: int, where: str) -> None:
        """Raise ValueError naming ``where`` when ``features`` cannot be its input width."""
        if self.builtin and self.name == "glu" and features % 2:
            raise ValueError(f"{where}: activation 'glu' halves the last dimension, which "
                             f"must be even; got {features}")

    @property
    def is_linear(self) -> bool:
        return self.builtin and self.name == "linear"

    # -- used by layers -----------------------------------------------------------------
    def forward(self, ops: Any, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``y = act(x)`` (written into ``out`` when given)."""
        if self.is_linear:
            if out is None:
                return x
            np.copyto(out, x)
            return out
        return ops.activation(self.name, x, out=out, param=self.param)

    def backward(self, ops: Any, dy: np.ndarray, x: np.ndarray | None, y: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """``dx`` from ``dy``, input ``x`` (may be None when ``fused``) and output ``y``."""
        if self.is_linear:
            return dy
        return ops.backprop_activation(self.name, dy, x, y, out=out, param=self.param)

    # -- user-facing --------------------------------------------------------------------
    def __call__(self, x: Any, **kwargs: Any) -> np.ndarray:
        """Apply to an array (a convenience for users; training goes through ``forward``).

        Keras's extra keywords of the function forms work here too: ``relu(x,
        negative_slope=, max_value=, threshold=)``, ``softmax``/``log_softmax(x, axis=)`` and
        ``gelu(x, approximate=True)``."""
        arr = np.asarray(x)
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        if kwargs and self.builtin and self.name in _CALL_KWARGS \
                and set(kwargs) <= _CALL_KWARGS[self.name]:
            return _call_with_kwargs(self.name, arr, **kwargs)
        act = self.with_param(**kwargs) if kwargs else self
        from fastff.backend import get_ops

        shape = arr.shape
        arr2 = np.ascontiguousarray(arr.reshape(-1, shape[-1]) if arr.ndim != 2 else arr)
        width = act.out_features(shape[-1]) if self.builtin else shape[-1]
        out = np.empty((arr2.shape[0], width), arr2.dtype)
        return act.forward(get_ops(), arr2, out=out).reshape(*shape[:-1], width)

    def with_param(self, **kwargs: Any) -> ActivationFunction:
        """A copy with its scalar parameter set (``negative_slope=`` or ``alpha=``)."""
        allowed = _PARAM_NAMES.get(self.name)
        if allowed is None or len(kwargs) != 1 or next(iter(kwargs)) != allowed:
            expected = f"only {allowed}=" if allowed else "no parameters"
            raise TypeError(f"{self.name}: takes {expected}, got {sorted(kwargs)}")
        (value,) = kwargs.values()
        return ActivationFunction(self.name, float(value))

    def get_config(self) -> dict:
        return {"name": self.name, "param": self.param}

    def __repr__(self) -> str:
        p = f", {self.param}" if self.param else ""
        return f"<activation {self.name}{p}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ActivationFunction) and type(other) is type(self)
                and other.name == self.name and other.param == self.param)

    def __hash__(self) -> int:
        return hash((type(self), self.name, self.param))


#: keywords of Keras's function forms handled by ``_call_with_kwargs`` (user calls only)
_CALL_KWARGS = {"relu": {"negative_slope", "max_value", "threshold"}, "softmax": {"axis"},
                "log_softmax": {"axis"}, "gelu": {"approximate"}, "sparsemax": {"axis"},
                "glu": {"axis"}}


def _call_with_kwargs(name: str, x: np.ndarray, **kw: Any) -> np.ndarray:
    """Keras's ``relu``/``softmax``/``log_softmax``/``gelu`` with their keywords, in NumPy."""
    if name == "relu":
        slope = float(kw.get("negative_slope", 0.0))
        max_value = kw.get("max_value")
        threshold = float(kw.get("threshold", 0.0))
        y = np.where(x > threshold, x, 0).astype(x.dtype) if threshold else np.maximum(x, 0)
        if max_value is not None:
            y = np.minimum(y, x.dtype.type(max_value))
        if slope:  # Keras: minus slope * relu(threshold - x)
            y = y - x.dtype.type(slope) * np.maximum(threshold - x, 0)
        return y.astype(x.dtype, copy=False)
    if name in ("sparsemax", "glu"):
        from fastff.backend.numpy_ops import _activation

        axis = kw.get("axis", -1)
        return np.moveaxis(_activation(name, np.moveaxis(x, axis, -1), 0.0), -1, axis)
    if name in ("softmax", "log_softmax"):
        axis = kw.get("axis", -1)
        z = x - np.max(x, axis=axis, keepdims=True)
        if name == "log_softmax":
            return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        e = np.exp(z)
        return e / np.sum(e, axis=axis, keepdims=True)
    if kw.get("approximate"):  # gelu, tanh form
        c = x.dtype.type(np.sqrt(2.0 / np.pi))
        return (0.5 * x * (1.0 + np.tanh(c * (x + x.dtype.type(0.044715) * x ** 3)))).astype(
            x.dtype, copy=False)
    return gelu(x)


class CustomActivation(ActivationFunction):
    """Base for user activations: override ``call(x)`` and ``grad(dy, x, y)`` in NumPy."""

    builtin = False

    def __init__(self, name: str | None = None):
        super().__init__(name or type(self).__name__)

    def call(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def forward(self, ops: Any, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        y = self.call(x)
        if out is None:
            return np.ascontiguousarray(y, dtype=x.dtype)
        np.copyto(out, y)
        return out

    def backward(self, ops: Any, dy: np.ndarray, x: np.ndarray | None, y: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        dx = self.grad(dy, x, y)
        if out is None:
            return np.ascontiguousarray(dx, dtype=dy.dtype)
        np.copyto(out, dx)
        return out

    def __call__(self, x: Any, **kwargs: Any) -> np.ndarray:
        return self.call(np.asarray(x))

    def get_config(self) -> dict:
        return {"name": self.name}


# one object per row of backend/spec.py, with Keras's parameter defaults (a new row is
# reachable by name at once; the module attributes below are the documented names)
_BUILTINS: dict[str, ActivationFunction] = {
    n: ActivationFunction(n, spec.param_default(n)) for n in spec.NAMES
}
linear = _BUILTINS["linear"]
sigmoid = _BUILTINS["sigmoid"]
tanh = _BUILTINS["tanh"]
relu = _BUILTINS["relu"]
leaky_relu = _BUILTINS["leaky_relu"]  # negative_slope 0.2
elu = _BUILTINS["elu"]                # alpha 1.0
selu = _BUILTINS["selu"]
gelu = _BUILTINS["gelu"]              # exact (Keras's approximate=False)
softplus = _BUILTINS["softplus"]
softsign = _BUILTINS["softsign"]
silu = _BUILTINS["silu"]
swish = _BUILTINS["swish"]
hard_sigmoid = _BUILTINS["hard_sigmoid"]
exponential = _BUILTINS["exponential"]
softmax = _BUILTINS["softmax"]
log_softmax = _BUILTINS["log_softmax"]
relu6 = _BUILTINS["relu6"]
mish = _BUILTINS["mish"]
hard_silu = _BUILTINS["hard_silu"]
hard_swish = _BUILTINS["hard_swish"]    # Keras's alias of hard_silu
hard_tanh = _BUILTINS["hard_tanh"]
log_sigmoid = _BUILTINS["log_sigmoid"]
celu = _BUILTINS["celu"]                # alpha 1.0
hard_shrink = _BUILTINS["hard_shrink"]  # threshold 0.5
soft_shrink = _BUILTINS["soft_shrink"]  # threshold 0.5
tanh_shrink = _BUILTINS["tanh_shrink"]
sparse_plus = _BUILTINS["sparse_plus"]
sparse_sigmoid = _BUILTINS["sparse_sigmoid"]
squareplus = _BUILTINS["squareplus"]    # b 4
sparsemax = _BUILTINS["sparsemax"]      # over the last axis (axis= in direct calls)
glu = _BUILTINS["glu"]                  # a * sigmoid(b) over the halves of the last axis


def threshold(x: Any, threshold: float, default_value: float) -> np.ndarray:
    """Keras's ``threshold(x, threshold, default_value)``: ``x`` where ``x > threshold``,
    else ``default_value`` (NaN stays NaN). A function of arrays only: both arguments are
    required, so, as in Keras, it is no layer activation by name."""
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    t = arr.dtype.type
    return np.where(arr <= t(threshold), t(default_value), arr)


_ALIASES = {"identity": "linear", "none": "linear"}


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    from fastff._suggest import did_you_mean

    hint = did_you_mean(name, valid)
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {', '.join(sorted(valid))}")


def get(identifier: Any) -> ActivationFunction:
    """Resolve ``None`` (linear), a name, a config dict or an ActivationFunction."""
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier.lower(), identifier.lower())
        if key == "threshold":
            raise TypeError("activation 'threshold' needs its threshold= and default_value= "
                            "arguments, which a name cannot give (Keras fails the same way "
                            "when the layer runs); call fastff.activations.threshold(x, "
                            "threshold, default_value) on arrays instead")
        if key not in _BUILTINS:
            raise _unknown("activation", identifier, list(_BUILTINS))
        return _BUILTINS[key]
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        name = getattr(identifier, "__name__", None)
        if name in _BUILTINS:
            return _BUILTINS[name]
        raise TypeError(
            f"activation: a plain callable ({identifier!r}) has no gradient; subclass "
            "fastff.activations.CustomActivation and define call(x) and grad(dy, x, y)")
    raise TypeError(f"activation: expected a name, None or ActivationFunction, got {identifier!r}")


def serialize(activation: ActivationFunction) -> str | dict:
    """Builtins serialize to their name (with a parameter when not the default)."""
    act = get(activation)
    if act.builtin:
        base = _BUILTINS[act.name]
        if act.param == base.param:
            return act.name
        return {"name": act.name, "param": act.param}
    return {"class_name": type(act).__name__, "config": act.get_config()}


def deserialize(config: str | dict, custom_objects: dict | None = None) -> ActivationFunction:
    """Inverse of :func:`serialize`; custom activations are looked up in ``custom_objects``."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            obj = custom_objects[config]
            return obj() if isinstance(obj, type) else get(obj)
        return get(config)
    if "class_name" in config:
        name = config["class_name"]
        if not custom_objects or name not in custom_objects:
            raise ValueError(f"Unknown activation class {name!r}: pass it in custom_objects")
        cls = custom_objects[name]
        return cls(**{k: v for k, v in config.get("config", {}).items() if k != "name"})
    base = get(config["name"])
    return ActivationFunction(base.name, config.get("param", base.param))
