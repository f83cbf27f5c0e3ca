"""``fastff.info()`` and ``python -m fastff info``: what this installation runs on.

Every probe is guarded: a missing or broken optional piece (Numba's threading layer, CUDA)
is reported as such, never raised.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from typing import TextIO

__all__ = ["gather", "info", "main"]


def _numba_facts() -> dict[str, str]:
    facts: dict[str, str] = {}
    try:
        import numba
    except Exception as exc:  # noqa: BLE001 - reporting, never failing
        return {"numba": f"not importable ({exc.__class__.__name__}: {exc})"}
    facts["numba"] = numba.__version__
    try:
        numba.get_num_threads()  # starts the pool, so the layer is known
        facts["numba threading layer"] = str(numba.threading_layer())
        facts["numba threads"] = str(numba.get_num_threads())
    except Exception as exc:  # noqa: BLE001
        facts["numba threading layer"] = f"unavailable ({exc.__class__.__name__}: {exc})"
    facts["cuda"] = _cuda_fact()
    return facts


def _cuda_fact() -> str:
    try:
        from fastff.backend.cuda import device_summary
    except Exception as exc:  # noqa: BLE001 - reporting, never failing
        return f"not usable ({exc.__class__.__name__})"
    return device_summary()


def gather(numba: bool = True) -> dict[str, str]:
    """The facts as an ordered ``{label: text}`` dict (``numba=False`` skips Numba/CUDA)."""
    import fastff

    facts: dict[str, str] = {"fastff": fastff.__version__, "python": sys.version.split()[0]}
    try:
        from fastff._core import ffi, lib

        def s(p: object) -> str:
            return ffi.string(p).decode()

        facts["C core"] = s(lib.fastff_version())
        facts["kernel"] = s(lib.fastff_kernel_name())
        names = s(lib.fastff_kernel_names()).split()
        facts["kernels supported"] = " ".join(
            n for n in names if lib.fastff_kernel_supported(n.encode()))
        facts["cpu features"] = s(lib.fastff_cpu_features()) or "(none detected)"
        facts["threads"] = str(lib.fastff_get_num_threads())
        facts["openmp"] = "yes" if lib.fastff_has_openmp() else "no"
        facts["threading"] = ("worker pool" if lib.fastff_get_threading() ==
                              lib.FASTFF_THREADING_POOL else "openmp") + (
            ", adaptive" if lib.fastff_get_adaptive_threads() else "")
    except Exception as exc:  # noqa: BLE001
        facts["C core"] = f"not loaded ({exc.__class__.__name__}: {exc})"
    try:
        import numpy

        facts["numpy"] = numpy.__version__
    except Exception as exc:  # noqa: BLE001
        facts["numpy"] = f"not importable ({exc})"
    if numba:
        facts.update(_numba_facts())
    return facts


def info(file: TextIO | None = None) -> None:
    """Print version, CPU features, microkernel, threads, Numba and CUDA status."""
    facts = gather()
    width = max(len(k) for k in facts)
    out = sys.stdout if file is None else file
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}", file=out)


def main(argv: list[str] | None = None) -> int:
    """``python -m fastff info [--json]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m fastff info",
                                     description="Show what fastff runs on.")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(gather(), indent=2))
    else:
        info()
    return 0


# ``fastff.info`` is the function once fastff's lazy namespace has resolved it, and this module
# after a plain ``import fastff.info``: both spellings offer ``()``, ``.main`` and ``.gather``.
info.main = main  # type: ignore[attr-defined]
info.gather = gather  # type: ignore[attr-defined]


class _CallableModule(types.ModuleType):
    """``import fastff.info`` binds the module where ``fastff.info`` is meant to be the
    function; making the module callable keeps ``fastff.info()`` working either way."""

    def __call__(self, file: TextIO | None = None) -> None:
        info(file)


sys.modules[__name__].__class__ = _CallableModule
