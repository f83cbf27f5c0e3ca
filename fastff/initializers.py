"""Weight initializers with Keras names and semantics, seeded.

An initializer is called as ``init(shape, dtype)``. With ``seed=None`` it draws from the global
generator (``fastff.utils.set_random_seed`` makes that reproducible); with an int seed every call
gives the same values, as in Keras 3. Values are drawn in float64 and cast, so float32 and
float64 models with the same seed start from the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastff import config

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
    "LecunNormal", "Orthogonal", "OrthogonalInitializer", "Identity", "IdentityInitializer",
    "get", "serialize", "deserialize",
]


class Initializer:
    """Base class: ``__call__(shape, dtype=None) -> ndarray`` and ``get_config``."""

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        dt = config.standardize_dtype(dtype)
        return np.ascontiguousarray(self._generate(tuple(int(s) for s in shape)), dtype=dt)

    def _generate(self, shape: tuple[int, ...]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, cfg: dict) -> Initializer:
        return cls(**cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        if self.seed is None:
            return config.global_rng()
        return np.random.default_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class Zeros(Initializer):
    def _generate(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def _generate(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    """A scalar or an array (e.g. pretrained vectors) broadcast to the weight's shape, as
    Keras's ``Constant``; an array that does not broadcast is refused naming both shapes.

    The config stores the array as nested lists (JSON), so a saved model's architecture holds
    it once more besides the weights: prefer ``layer.set_weights`` for very large arrays.
    """

    def __init__(self, value: Any = 0.0):
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"Constant: value must be a number or an array of numbers, got "
                            f"{type(value).__name__}") from None
        self.value: float | np.ndarray = float(arr) if arr.ndim == 0 else arr

    def _generate(self, shape):
        value = np.asarray(self.value)
        try:
            return np.broadcast_to(value, shape).copy()
        except ValueError:
            raise ValueError(f"Constant: the value's shape {value.shape} does not match the "
                             f"weight's shape {shape}") from None

    def get_config(self):
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray) else value}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def _generate(self, shape):
        return self._rng().uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def _generate(self, shape):
        return self._rng().normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...],
                      stddev: float) -> np.ndarray:
    """Normal(0, stddev) redrawn until every value lies within two standard deviations."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class TruncatedNormal(RandomNormal):
    def _generate(self, shape):
        return self.mean + _truncated_normal(self._rng(), shape, self.stddev)


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras: last two axes, times the receptive field for >2-D."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(_Seeded):
    """Variance ``scale / n`` with ``n`` from ``mode`` (fan_in, fan_out, fan_avg)."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTS:
            raise ValueError(
                f"VarianceScaling: distribution must be one of {self._DISTS}, got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _generate(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), size=shape)
        # std of a standard normal truncated to [-2, 2] is 0.8796...; undo it as Keras does
        return _truncated_normal(rng, shape, math.sqrt(var) / 0.87962566103423978)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _preset(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed: int | None = None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    doc = f"VarianceScaling({scale}, {mode}, {distribution})."
    return type(name, (VarianceScaling,),
                {"__init__": __init__, "get_config": get_config, "__doc__": doc})


# Glorot uniform is the lecture's Xavier: U[±sqrt(6 / (fan_in + fan_out))].
GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")



class Orthogonal(_Seeded):
    """Keras's ``Orthogonal``: a (semi-)orthogonal matrix from the QR decomposition of a
    normal draw (signs fixed by R's diagonal), over ``shape`` flattened to
    ``(prod(shape[:-1]), shape[-1])``, times ``gain``."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = float(gain)

    def _generate(self, shape):
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """Keras's ``Identity``: ``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def _generate(self, shape):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


OrthogonalInitializer = Orthogonal
IdentityInitializer = Identity

_CLASSES: dict[str, type] = {c.__name__: c for c in (
    Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
    Orthogonal, Identity)}
_NAMES: dict[str, type] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "xavier_uniform": GlorotUniform, "xavier_normal": GlorotNormal,
    "orthogonal": Orthogonal, "identity": Identity,
}
_CLASSES.update(OrthogonalInitializer=Orthogonal, IdentityInitializer=Identity)


def get(identifier: Any) -> Initializer:
    """Resolve a name (``"he_normal"``), a class name, a config dict or an Initializer."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            from fastff.activations import _unknown

            raise _unknown("initializer", identifier, list(_NAMES))
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return _Callable(identifier)
    raise TypeError(f"initializer: expected a name or Initializer, got {identifier!r}")


class _Callable(Initializer):
    """Wraps a plain ``fn(shape, dtype)`` (not serializable)."""

    def __init__(self, fn):
        self.fn = fn

    def _generate(self, shape):
        return np.asarray(self.fn(shape))


def serialize(init: Initializer) -> dict:
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(cfg: dict | str, custom_objects: dict | None = None) -> Initializer:
    if isinstance(cfg, str):
        return get(cfg)
    name = cfg["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown initializer class {name!r}: pass it in custom_objects")
    return cls.from_config(cfg.get("config", {}))
