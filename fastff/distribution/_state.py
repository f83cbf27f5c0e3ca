"""The process-wide distribution: one slot, below the package face and ``DataParallel``
(``DataParallel.scope`` sets it without importing the package that re-exports it)."""

from __future__ import annotations

from typing import Any

_slot: list[Any] = [None]


def get() -> Any:
    """The current distribution, or None."""
    return _slot[0]


def put(value: Any) -> None:
    """Set the current distribution (already checked by the caller)."""
    _slot[0] = value
