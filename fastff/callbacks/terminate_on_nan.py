"""``TerminateOnNaN``: stop training at the first non-finite batch loss, keeping the last
finite weights.

The loss of batch ``i`` is computed *before* batch ``i``'s update, and the update that
follows a NaN loss writes NaN into the weights. So the weights are snapshotted at the
start of every batch (one copy of the model's flat parameter buffer, into memory
allocated once) and put back when the loss turns out non-finite.

Only the weights are rolled back: the optimizer's moments took the bad step too, so to train
on, compile again (fresh optimizer state) or load a checkpoint saved before the failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastff.callbacks._monitor import say
from fastff.callbacks.base import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop when a batch's ``loss`` is NaN or infinite; restore the weights from before it."""

    def __init__(self, verbose: int = 1) -> None:
        super().__init__()
        self.verbose = verbose
        self._flat: np.ndarray | None = None
        self._list: list[np.ndarray] | None = None
        self.terminated_batch: int | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._flat = None
        self._list = None
        self.terminated_batch = None

    def _snapshot(self) -> None:
        params = getattr(self.model, "params", None)
        if isinstance(params, np.ndarray):
            if self._flat is None or self._flat.shape != params.shape:
                self._flat = np.empty_like(params)
            np.copyto(self._flat, params)
        else:
            self._list = [np.array(w, copy=True) for w in self.model.get_weights()]

    def _restore(self) -> None:
        params = getattr(self.model, "params", None)
        if self._flat is not None and isinstance(params, np.ndarray):
            np.copyto(params, self._flat)
        elif self._list is not None:
            self.model.set_weights(self._list)

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._snapshot()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            self._restore()
            self.terminated_batch = batch
            if self.verbose:
                say(f"Batch {batch}: invalid loss {loss}, terminating training "
                      "(weights from before this batch kept)")
            self.model.stop_training = True
