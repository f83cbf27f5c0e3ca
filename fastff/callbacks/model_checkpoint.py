"""``ModelCheckpoint``: save the model (or its weights) during training (Keras semantics).

``filepath`` is formatted with ``epoch`` (1-based) and the epoch's logs, e.g.
``"ckpt-{epoch:02d}-{val_loss:.4f}.fastff"``; with an integer ``save_freq`` it may also use
``batch`` (1-based within the epoch). Saves go through ``fastff.saving``, whose writes are
atomic: a crash or Ctrl-C mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from fastff._validation import check_bool, check_int, check_real
from fastff.callbacks._monitor import initial_best, is_improvement, resolve_mode, say
from fastff.callbacks.base import Callback

__all__ = ["ModelCheckpoint"]

class ModelCheckpoint(Callback):
    """Save the model every epoch (or every ``save_freq`` batches), or only when
    ``monitor`` improves with ``save_best_only``.

    ``initial_value_threshold``: with ``save_best_only``, the value the monitored
    quantity must beat before the first save.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = check_int(verbose, "verbose", low=0)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.save_weights_only = check_bool(save_weights_only, "save_weights_only")
        self.mode = resolve_mode(monitor, mode)
        self.save_freq = save_freq
        self.best = (initial_best(self.mode) if initial_value_threshold is None
                     else check_real(initial_value_threshold, "initial_value_threshold"))
        self._epoch = 0
        self._batches_seen = 0
        self.last_saved: str | None = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def format_path(self, epoch: int, batch: int | None, logs: Mapping[str, Any] | None) -> str:
        """The file name for ``epoch`` (0-based) and ``batch`` (0-based or None)."""
        fields: dict[str, Any] = {k: v for k, v in (logs or {}).items()}
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {e}, which is "
                           f"not in the logs (available: {sorted(fields)})") from None

    def _save(self, epoch: int, batch: int | None, logs: Mapping[str, Any] | None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                # as Keras 3: warn, then save as if save_best_only were False
                warnings.warn(f"Can save best model only with {self.monitor} available "
                              f"(the logs have: {', '.join(sorted(logs)) or 'none'}); "
                              "saving anyway", stacklevel=2)
            path = self.format_path(epoch, batch, logs)
            if current is None:
                if self.verbose > 0:
                    say(f"Epoch {epoch + 1}: saving model to {path}")
            elif not is_improvement(self.mode, float(current), self.best, 0.0):
                if self.verbose > 0:
                    say(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            else:
                current = float(current)
                if self.verbose > 0:
                    say(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                        f"to {current:.5f}, saving model to {path}")
                self.best = current
        else:
            path = self.format_path(epoch, batch, logs)
            if self.verbose > 0:
                say(f"Epoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path
