"""Lazy access to ``mpi4py`` and the job-wide abort on an uncaught exception.

``mpi4py`` is an optional dependency (``pip install "fastff[mpi]"``): nothing in fastff imports
it until a distribution is created, so single-process users never need MPI installed.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

__all__ = ["MissingMPIError", "DisagreementError", "mpi", "install_abort_hook", "abort_job"]

_INSTALL_HINT = (
    "fastff.distribution needs mpi4py and an MPI library: pip install 'fastff[mpi]' "
    "(with an MPI installed first, e.g. apt-get install openmpi-bin libopenmpi-dev), "
    "then start the script with mpirun -n N python script.py")


class MissingMPIError(ImportError):
    """``mpi4py`` (or the MPI library under it) cannot be imported."""


class DisagreementError(ValueError):
    """The ranks disagree (on the model, settings or data): raised the same on every rank at
    the same collective point, so the ranks are still in step and a script may catch it."""


def mpi() -> Any:
    """The ``mpi4py.MPI`` module (initializes MPI on first use) or a ``MissingMPIError``."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # mpi4py missing, or present without a loadable libmpi
        raise MissingMPIError(f"{_INSTALL_HINT} ({e})") from e
    return MPI


_hook_installed = False


def install_abort_hook(comm: Any) -> None:
    """Make an uncaught exception on any rank abort the whole job (``MPI_Abort``).

    Without this the other ranks would wait forever in their next collective call. The
    failing rank prints its traceback and a one-line reason on stderr first.
    """
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook

    def hook(exc_type: type, exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, (KeyboardInterrupt, SystemExit)) or comm.Get_size() == 1:
            previous(exc_type, exc, tb)
            return
        abort_job(comm, exc)

    sys.excepthook = hook
    _hook_installed = True


def abort_job(comm: Any, exc: BaseException, where: str = "") -> None:
    """Print ``exc``'s traceback and a one-line reason on stderr, then ``MPI_Abort`` the job.

    ``where``: e.g. ``"fit"``, when the rank is leaving that collective call early."""
    rank, size = comm.Get_rank(), comm.Get_size()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    what = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    leaving = f"; leaving {where} early" if where else ""
    sys.stderr.write(f"{text}fastff.distribution: rank {rank} of {size} raised "
                     f"{what}{leaving}; aborting all ranks (MPI_Abort)\n")
    sys.stderr.flush()
    sys.stdout.flush()
    comm.Abort(1)
