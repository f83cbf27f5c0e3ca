"""``collective``: the decorator that makes a training loop abort the job when it fails on one
rank of a multi-rank distribution (instead of leaving the other ranks waiting in a collective
until the watchdog's timeout). Without a distribution it costs one lookup per call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from fastff.distribution import _state

__all__ = ["collective"]

F = TypeVar("F", bound=Callable[..., Any])


def collective(where: str) -> Callable[[F], F]:
    """Run the decorated function under the current distribution's ``abort_on_error(where)``."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            dist = _state.get()
            if dist is None or dist.num_processes == 1:
                return fn(*args, **kwargs)
            with dist.abort_on_error(where):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
