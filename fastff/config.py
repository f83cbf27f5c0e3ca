"""Process-wide settings: the default float dtype and the global random generator.

Kept tiny and dependency-free so every floor can import it without pulling in Numba.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_FLOATX = "float32"
_VALID_FLOATX = ("float32", "float64")

#: Rows per call of ``predict`` when no ``batch_size`` is given. Keras uses 32; inference needs
#: no small batches, and larger ones keep the GEMMs efficient (outputs agree to float rounding).
PREDICT_BATCH_SIZE = 1024
_SEED: int | None = None
_RNG = np.random.default_rng()


def floatx() -> str:
    """The default float dtype name of new models (``"float32"`` unless changed)."""
    return _FLOATX


def set_floatx(name: str) -> None:
    """Set the default float dtype of models built from now on (``"float32"`` or ``"float64"``)."""
    global _FLOATX
    name = np.dtype(name).name if not isinstance(name, str) else name
    if name not in _VALID_FLOATX:
        raise ValueError(f"set_floatx: expected one of {_VALID_FLOATX}, got {name!r}")
    _FLOATX = name


def backend() -> str:
    """Keras's backend name: ``"numpy"`` (fastff takes and returns NumPy arrays)."""
    return "numpy"


def image_data_format() -> str:
    """Keras's image data format; fastff's arrays are channels-last."""
    return "channels_last"


def epsilon() -> float:
    """The fuzz factor used to clip probabilities in cross-entropies (Keras's 1e-7)."""
    return 1e-7


def standardize_dtype(dtype: object | None) -> np.dtype:
    """Resolve ``dtype`` (None means ``floatx()``) to a supported float dtype."""
    dt = np.dtype(_FLOATX if dtype is None else dtype)
    if dt.name not in _VALID_FLOATX:
        raise ValueError(f"dtype: expected one of {_VALID_FLOATX}, got {dt.name!r}")
    return dt


def set_seed(seed: int | None) -> None:
    """Reset the global generator that unseeded initializers, dropout and shuffling draw from."""
    global _RNG, _SEED
    _SEED = None if seed is None else int(seed)
    _RNG = np.random.default_rng(_SEED)


def global_rng() -> np.random.Generator:
    """The global generator (reset by ``fastff.utils.set_random_seed``)."""
    return _RNG


def draw_seed() -> int:
    """A fresh 63-bit seed drawn from the global generator (reproducible after ``set_seed``)."""
    return int(_RNG.integers(0, 2**63 - 1))


_SESSION_RESETS: list[Callable[[], None]] = []


def on_clear_session(fn: Callable[[], None]) -> None:
    """Register ``fn`` to run on ``clear_session`` (modules that keep name counters)."""
    _SESSION_RESETS.append(fn)


def clear_session() -> None:
    """Keras's ``clear_session``: reset generated layer and metric names (``dense``,
    ``dense_1``, ``auc``, ...); fastff keeps no other global graph state."""
    for fn in _SESSION_RESETS:
        fn()
