"""The backend spec table: one row per activation, the one place its facts are written.

Each row gives the activation's name, its elementwise kernel code (the ``code`` argument of
``backend/kernels/activations.py`` and ``backend/cuda/activations.py``), the C epilogue
constant of ``csrc/fastff.h`` that ``fastff.linalg.gemm`` applies (or None), whether its
derivative is computed from the output ``y`` alone, and its one scalar parameter (Keras's
keyword and default). Every table the backends, ``fastff.activations``, ``fastff.linalg`` and
the compiled path use is derived from these rows, and the kernels' dispatch too: the code of a
row runs the per-element bodies registered under its name in ``backend/scalar_act.py``
(``CODE_NAMES``).

Pure Python: importing it loads neither Numba nor the C core (``c_id`` reads the C header's
value through ``fastff._core`` on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

__all__ = ["ActivationSpec", "ACTIVATIONS", "NAMES", "NEEDS_INPUT", "EPILOGUE", "ROWWISE",
           "HOST_ROWWISE",
           "EPILOGUE_C_IDS", "EPILOGUE_CODES", "C_ONLY", "CODE_NAMES", "canonical", "code", "codes",
           "c_id", "c_ids", "param_name", "param_default", "fuses", "out_features"]


class ActivationSpec(NamedTuple):
    """One activation's facts."""

    name: str
    #: elementwise kernel code; None for the row-wise softmax / log_softmax
    code: int | None
    #: C epilogue constant in csrc/fastff.h (None: never in the GEMM epilogue)
    c_act: str | None
    #: the derivative needs only the output y (else the input x)
    grad_from_output: bool
    #: Keras's keyword for the one scalar parameter, and its default
    param: str | None = None
    default: float = 0.0
    #: for a parametrised row whose derivative comes from y: which parameters keep y
    #: telling x's sign (None: all), so ``fuses`` can refuse the others
    y_tells_sign: Callable[[float], bool] | None = None


#: name -> row. "gelu" is the exact erf form everywhere (Keras's ``approximate=False``);
#: the tanh approximation is "gelu_tanh", offered only by the C epilogue (``linalg.gemm``).
ACTIVATIONS: dict[str, ActivationSpec] = {r.name: r for r in (
    ActivationSpec("linear", 0, "FASTFF_ACT_NONE", True),
    ActivationSpec("relu", 1, "FASTFF_ACT_RELU", True),
    ActivationSpec("leaky_relu", 2, "FASTFF_ACT_LEAKY_RELU", True, "negative_slope", 0.2,
                   lambda slope: slope >= 0.0),
    ActivationSpec("elu", 3, "FASTFF_ACT_ELU", True, "alpha", 1.0, lambda alpha: alpha > 0.0),
    ActivationSpec("selu", 4, None, True),
    ActivationSpec("gelu", 5, "FASTFF_ACT_GELU", False),
    ActivationSpec("tanh", 6, "FASTFF_ACT_TANH", True),
    ActivationSpec("sigmoid", 7, "FASTFF_ACT_SIGMOID", True),
    ActivationSpec("hard_sigmoid", 8, None, True),
    ActivationSpec("softplus", 9, None, True),
    ActivationSpec("softsign", 10, None, True),
    ActivationSpec("silu", 11, None, False),
    ActivationSpec("swish", 11, None, False),
    ActivationSpec("exponential", 12, None, True),
    ActivationSpec("relu6", 13, None, True),
    ActivationSpec("mish", 14, None, False),
    ActivationSpec("hard_silu", 15, None, False),
    ActivationSpec("hard_swish", 15, None, False),
    ActivationSpec("hard_tanh", 16, None, True),
    ActivationSpec("log_sigmoid", 17, None, True),
    ActivationSpec("celu", 18, None, True, "alpha", 1.0),
    ActivationSpec("hard_shrink", 19, None, False, "threshold", 0.5),
    ActivationSpec("soft_shrink", 20, None, False, "threshold", 0.5),
    ActivationSpec("tanh_shrink", 21, None, False),
    ActivationSpec("sparse_plus", 22, None, False),
    ActivationSpec("sparse_sigmoid", 23, None, True),
    ActivationSpec("squareplus", 24, None, False, "b", 4.0),
    ActivationSpec("softmax", None, None, True),
    ActivationSpec("log_softmax", None, None, True),
    ActivationSpec("sparsemax", None, None, True),
    ActivationSpec("glu", None, None, False),
)}
#: C-epilogue-only forms (no elementwise kernel): name -> C constant
C_ONLY: dict[str, str] = {"gelu_tanh": "FASTFF_ACT_GELU_TANH"}

#: every name the Ops backends accept, in table order
NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
def _code_names() -> tuple[str, ...]:
    owners: dict[int, str] = {}
    for n, r in ACTIVATIONS.items():
        if r.code is not None:
            owners.setdefault(r.code, n)
    if sorted(owners) != list(range(len(owners))):
        raise ValueError(f"elementwise codes must be 0..{len(owners) - 1}, got {sorted(owners)}")
    return tuple(owners[c] for c in range(len(owners)))


#: elementwise code -> the activation that owns it (its first row; "swish" shares silu's):
#: whose per-element bodies (``backend/scalar_act.py``) the kernels run for that code
CODE_NAMES: tuple[str, ...] = _code_names()
#: activations whose derivative needs the input x
NEEDS_INPUT: frozenset[str] = frozenset(n for n, r in ACTIVATIONS.items()
                                        if not r.grad_from_output)
#: activations applied over the last axis (no elementwise code)
ROWWISE: frozenset[str] = frozenset(n for n, r in ACTIVATIONS.items() if r.code is None)
#: row-wise activations computed by the NumPy reference on every host backend (no kernel of
#: their own: the device backend refuses them by name)
HOST_ROWWISE: frozenset[str] = ROWWISE - {"softmax", "log_softmax"}
#: what ``ops.dense`` applies in the C GEMM epilogue: it has a C id and its derivative comes
#: from y, so a Dense layer need not keep its pre-activation (gelu needs x: it runs after)
EPILOGUE: frozenset[str] = frozenset(n for n, r in ACTIVATIONS.items()
                                     if r.c_act is not None and r.grad_from_output)


def canonical(name: str | None) -> str:
    """Lower-case activation name, ``None`` -> ``"linear"``; raises ValueError if unknown."""
    if name is None:
        return "linear"
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; known: {', '.join(NAMES)}")
    return key


def code(name: str) -> int:
    """Elementwise kernel code of ``name`` (KeyError for the row-wise ones)."""
    c = ACTIVATIONS[name].code
    if c is None:
        raise KeyError(f"{name!r} has no elementwise code (it is row-wise)")
    return c


def codes(names: frozenset[str] | None = None) -> dict[str, int]:
    """name -> elementwise code for every elementwise activation (or those in ``names``)."""
    return {n: r.code for n, r in ACTIVATIONS.items()
            if r.code is not None and (names is None or n in names)}


def c_id(name: str) -> int | None:
    """The C epilogue id of ``name`` (from ``csrc/fastff.h``), or None."""
    const = C_ONLY.get(name) or (ACTIVATIONS[name].c_act if name in ACTIVATIONS else None)
    if const is None:
        return None
    from fastff._core import lib

    try:
        return int(getattr(lib, const))
    except AttributeError:
        raise ImportError(f"fastff._core has no {const}: the built C core is older than "
                          "csrc/fastff.h; rebuild it (python setup.py build_ext --inplace)"
                          ) from None


def c_ids(names: frozenset[str] | None = None) -> dict[str, int]:
    """name -> C epilogue id for every activation the C epilogue applies (or those in
    ``names``), the C-only forms included when ``names`` is None."""
    pool = [*ACTIVATIONS, *C_ONLY] if names is None else [n for n in ACTIVATIONS if n in names]
    out = {}
    for n in pool:
        i = c_id(n)
        if i is not None:
            out[n] = i
    return out


class _LazyCIds(Mapping):
    """``c_ids(names)`` computed on first use, so importing a module that keeps such a
    table loads no C core."""

    def __init__(self, names: frozenset[str]):
        self._names = names
        self._ids: dict[str, int] | None = None

    def _table(self) -> dict[str, int]:
        if self._ids is None:
            self._ids = c_ids(self._names)
        return self._ids

    def __getitem__(self, name: str) -> int:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: name -> C id / elementwise code of what ``ops.dense`` fuses (``EPILOGUE``), for the
#: compiled path's layer rows
EPILOGUE_C_IDS: Mapping[str, int] = _LazyCIds(EPILOGUE)
EPILOGUE_CODES: dict[str, int] = codes(EPILOGUE)


def out_features(name: str, features: int) -> int:
    """Width of the last axis after ``name``: half for glu (it gates one half with the
    other), else unchanged."""
    return features // 2 if name == "glu" else features


def param_name(name: str) -> str | None:
    """Keras's keyword for the scalar parameter of ``name`` (None: it takes none)."""
    return ACTIVATIONS[name].param


def param_default(name: str) -> float:
    """Keras's default of that parameter (0.0 when it takes none)."""
    return ACTIVATIONS[name].default


def fuses(name: str, param: float) -> bool:
    """Whether ``ops.dense`` applies ``name`` with ``param`` in its epilogue and its
    derivative then needs only y (``EPILOGUE``, and y still tells x's sign)."""
    if name not in EPILOGUE:
        return False
    cond = ACTIVATIONS[name].y_tells_sign
    return cond is None or cond(param)
