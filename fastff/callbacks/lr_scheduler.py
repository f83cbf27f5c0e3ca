"""``LearningRateScheduler``: set the learning rate at the start of each epoch from
``schedule(epoch, lr)`` (or ``schedule(epoch)``), Keras semantics; the rate used is
recorded in the epoch's logs as ``learning_rate``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, MutableMapping
from typing import Any

from fastff._validation import check_int
from fastff.callbacks._monitor import say
from fastff.callbacks.base import Callback

__all__ = ["LearningRateScheduler"]


def _arity(fn: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    params = [p for p in sig.parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return 2
    return 2 if len(params) >= 2 else 1


class LearningRateScheduler(Callback):
    """``schedule(epoch: int (0-based), lr: float) -> float`` sets the rate before each epoch."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = check_int(verbose, "verbose", low=0)
        self._two_args = _arity(schedule) == 2

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        new = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        try:
            new = float(new)
        except (TypeError, ValueError):
            raise ValueError("the output of the schedule function should be a float, got "
                             f"{new!r}") from None
        if not math.isfinite(new) or new < 0:
            raise ValueError(f"the schedule returned an invalid learning rate {new!r}")
        optimizer.learning_rate = new
        if self.verbose > 0:
            say(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch: int, logs: MutableMapping[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
