"""Data-parallel training over MPI, in Keras 3's ``keras.distribution`` idiom.

A script written for one process runs unchanged under ``mpirun -n N python train.py`` once it
sets the distribution::

    import fastff
    fastff.distribution.set_distribution(fastff.distribution.DataParallel())
    model.fit(x, y, batch_size=256)   # 256 = the global batch, split over the N ranks

Under a distribution ``fit`` and ``evaluate`` are collective (call them on every rank with the
same data); only rank 0 prints progress and writes files (``save``, checkpoints, CSV logs).
``mpi4py`` is imported only when a ``DataParallel`` is created (``pip install 'fastff[mpi]'``).
See ``docs/distributed.md``.
"""

from __future__ import annotations

from typing import Any

from fastff.distribution import _state
from fastff.distribution._mpi import DisagreementError, MissingMPIError
from fastff.distribution.data_parallel import DataParallel

__all__ = ["DataParallel", "DisagreementError", "MissingMPIError", "set_distribution",
           "get_distribution", "distribution", "initialize", "is_chief", "rank",
           "num_processes", "local_rows"]

def initialize() -> None:
    """Start MPI and make an uncaught exception on any rank abort the job.

    Optional (``DataParallel()`` does the same); raises ``MissingMPIError`` without mpi4py.
    """
    from fastff.distribution._mpi import install_abort_hook, mpi

    install_abort_hook(mpi().COMM_WORLD)


def set_distribution(value: Any) -> None:
    """Set the process-wide distribution (a ``DataParallel``), or ``None`` for one process."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a fastff.distribution.DataParallel or "
                        f"None, got {type(value).__name__}")
    _state.put(value)


def get_distribution() -> Any:
    """The distribution set by ``set_distribution``, or ``None``."""
    return _state.get()


distribution = get_distribution  # Keras 3's name


def is_chief() -> bool:
    """True unless a distribution is set and this process is not rank 0 (who writes files)."""
    current = _state.get()
    return current is None or current.rank == 0


def rank() -> int:
    """This process's rank (0 without a distribution)."""
    current = _state.get()
    return 0 if current is None else current.rank


def num_processes() -> int:
    """The number of ranks (1 without a distribution)."""
    current = _state.get()
    return 1 if current is None else current.num_processes


def local_rows(n: int) -> int:
    """How many of ``n`` evaluation rows this rank takes (``n`` without a distribution)."""
    current = _state.get()
    if current is None:
        return n
    s, e = current.local_range(0, n)
    return e - s
