"""``EarlyStopping``: stop ``fit`` when a monitored quantity stops improving (Keras semantics).

- An epoch *improves* when ``monitor`` beats the best so far by more than ``min_delta``.
- After ``patience`` epochs without improvement (and from epoch 1 on) training stops.
- ``baseline``: the patience counter resets only on epochs that also beat the baseline,
  so training stops after ``patience`` epochs if the baseline is never reached.
- ``start_from_epoch``: epochs before it are ignored (warm-up).
- ``restore_best_weights``: at the end of training the weights of the best epoch are put
  back (from the first monitored epoch on there is always a best epoch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastff._validation import check_bool, check_int, check_real
from fastff.callbacks._monitor import initial_best, is_improvement, monitor_value, resolve_mode, say
from fastff.callbacks.base import Callback

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(check_real(min_delta, "min_delta"))
        self.patience = check_int(patience, "patience", low=0)
        self.verbose = check_int(verbose, "verbose", low=0)
        self.mode = resolve_mode(monitor, mode)
        self.baseline = check_real(baseline, "baseline", allow_none=True)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", low=0)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = initial_best(self.mode)
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch < self.start_from_epoch:
            return
        current = monitor_value("EarlyStopping", self.monitor, logs)
        if current is None:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if is_improvement(self.mode, current, self.best, self.min_delta):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or is_improvement(self.mode, current, self.baseline,
                                                       self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                say("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Mapping[str, Any] | None) -> float | None:
        return monitor_value("EarlyStopping", self.monitor, logs)
