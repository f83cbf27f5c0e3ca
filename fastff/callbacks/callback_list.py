"""``CallbackList``: dispatches the loops' hooks to a list of callbacks (as Keras 3's
``keras/src/callbacks/callback_list.py``).

It adds a ``History`` and a ``ProgbarLogger`` on request, and notes whether any callback
overrides a per-batch hook, so the training loop can skip building per-batch ``logs`` dicts
when nobody reads them (verbose=0 then costs nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastff.callbacks.base import (
    _BATCH_HOOKS,
    _PREDICT_BATCH_HOOKS,
    _TEST_BATCH_HOOKS,
    Callback,
    History,
    _overrides,
)

__all__ = ["CallbackList", "sorted_logs"]


def sorted_logs(logs: dict | None) -> dict:
    """``logs`` with its keys in sorted order, as Keras 3 makes every metrics dict (batch and
    test logs, ``evaluate(return_dict=True)``; an epoch's logs are the sorted training ones,
    then the sorted ``val_`` ones); ``{}`` for None."""
    if not logs:
        return {}
    keys = list(logs)
    if all(a <= b for a, b in zip(keys, keys[1:])):
        return logs
    return {k: logs[k] for k in sorted(keys)}


class CallbackList:
    """Dispatches hooks to a list of callbacks (adding History / ProgbarLogger on request)."""

    def __init__(self, callbacks: Iterable[Callback] | None = None, model: Any = None,
                 add_history: bool = False, add_progbar: bool = False, verbose: int = 0,
                 epochs: int | None = None, steps: int | None = None, **params: Any):
        self.callbacks: list[Callback] = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected fastff.callbacks.Callback instances, "
                                f"got {type(cb).__name__}")
        self.history: History | None = None
        if add_history:
            found = [cb for cb in self.callbacks if isinstance(cb, History)]
            self.history = found[0] if found else History()
            if not found:
                self.callbacks.append(self.history)
        if add_progbar and verbose:
            try:
                from fastff.callbacks.progbar import ProgbarLogger
            except ImportError:  # the display is optional
                ProgbarLogger = None  # noqa: N806
            if ProgbarLogger is not None and not any(
                    isinstance(cb, ProgbarLogger) for cb in self.callbacks):
                self.callbacks.insert(0, ProgbarLogger())
        self.params = {"verbose": verbose, "epochs": epochs, "steps": steps, **params}
        self.model = model
        for cb in self.callbacks:
            if model is not None:
                cb.set_model(model)
            cb.set_params(self.params)
        self._train_batch = [cb for cb in self.callbacks if _overrides(cb, _BATCH_HOOKS)]
        self._test_batch = [cb for cb in self.callbacks if _overrides(cb, _TEST_BATCH_HOOKS)]
        self._predict_batch = [cb for cb in self.callbacks
                               if _overrides(cb, _PREDICT_BATCH_HOOKS)]

    @property
    def needs_batch_logs(self) -> bool:
        """True when some callback reads per-batch training logs."""
        return bool(self._train_batch)

    @property
    def has_user_batch_hooks(self) -> bool:
        """True when a callback other than ``History`` and the progress bar overrides a
        per-batch training hook (so it may set ``stop_training`` mid-epoch)."""
        try:
            from fastff.callbacks.progbar import ProgbarLogger
        except ImportError:  # pragma: no cover - the display is optional
            ProgbarLogger = History  # noqa: N806
        return any(not isinstance(cb, (History, ProgbarLogger)) for cb in self._train_batch)

    @property
    def needs_test_batch_logs(self) -> bool:
        return bool(self._test_batch)

    @property
    def needs_predict_batch_logs(self) -> bool:
        return bool(self._predict_batch)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_model(self, model: Any) -> None:
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    # As Keras 3, hooks called without logs receive an empty dict (never None), so a
    # callback may read ``logs.get(...)`` or ``logs["loss"] if logs`` unconditionally.

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._call("on_train_begin", {} if logs is None else logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._call("on_train_end", {} if logs is None else logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_begin", epoch, {} if logs is None else logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_end", epoch, {} if logs is None else logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._train_batch:
            cb.on_train_batch_begin(batch, {} if logs is None else logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = sorted_logs(logs)
        for cb in self._train_batch:
            cb.on_train_batch_end(batch, logs)

    on_batch_begin = on_train_batch_begin
    on_batch_end = on_train_batch_end

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._call("on_test_begin", {} if logs is None else logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._call("on_test_end", sorted_logs(logs))

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._test_batch:
            cb.on_test_batch_begin(batch, {} if logs is None else logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = sorted_logs(logs)
        for cb in self._test_batch:
            cb.on_test_batch_end(batch, logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._call("on_predict_begin", {} if logs is None else logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._call("on_predict_end", {} if logs is None else logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._predict_batch:
            cb.on_predict_batch_begin(batch, {} if logs is None else logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._predict_batch:
            cb.on_predict_batch_end(batch, {} if logs is None else logs)
