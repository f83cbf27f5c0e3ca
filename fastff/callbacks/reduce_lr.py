"""``ReduceLROnPlateau``: multiply the learning rate by ``factor`` when a monitored quantity
has not improved for ``patience`` epochs, then wait ``cooldown`` epochs (Keras semantics).
Records the current rate in the epoch's logs as ``learning_rate``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastff._validation import check_int, check_real
from fastff.callbacks._monitor import initial_best, is_improvement, monitor_value, resolve_mode, say
from fastff.callbacks.base import Callback

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(Callback):
    """Reduce the optimizer's learning rate when ``monitor`` plateaus, down to ``min_lr``."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.factor = check_real(factor, "factor", low=0.0, high=1.0, low_open=True,
                                 high_open=True)
        self.patience = check_int(patience, "patience", low=0)
        self.verbose = check_int(verbose, "verbose", low=0)
        self.mode = resolve_mode(monitor, mode)
        self.min_delta = abs(check_real(min_delta, "min_delta"))
        self.cooldown = check_int(cooldown, "cooldown", low=0)
        self.min_lr = check_real(min_lr, "min_lr", low=0.0)
        self._reset()

    def _reset(self) -> None:
        self.best = initial_best(self.mode)
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: Any = None) -> None:
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: MutableMapping[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = monitor_value("ReduceLROnPlateau", self.monitor, logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if is_improvement(self.mode, current, self.best, self.min_delta):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = float(optimizer.learning_rate)
        if old_lr > self.min_lr:
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                say(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                      f"{new_lr:.4g}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0
