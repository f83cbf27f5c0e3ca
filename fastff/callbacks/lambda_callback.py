"""``LambdaCallback``: a callback built from plain functions, one per hook (Keras semantics).

Epoch hooks get ``(epoch, logs)``, batch hooks ``(batch, logs)``, train/test/predict
begin/end hooks ``(logs)``. Any hook name of ``Callback`` may be passed as a keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastff.callbacks.base import Callback

__all__ = ["LambdaCallback"]

_HOOKS = frozenset(
    f"on_{stage}_{when}"
    for stage in ("train", "test", "predict", "epoch", "train_batch", "test_batch",
                  "predict_batch", "batch")
    for when in ("begin", "end")
)


class LambdaCallback(Callback):
    """``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        hooks = dict(kwargs)
        hooks.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        given = {}
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; expected one of "
                                 f"{sorted(_HOOKS)}")
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable")
            given[name] = _forward(fn, 2 if ('epoch' in name or 'batch' in name) else 1)
        # Hooks are class attributes of a per-instance subclass, so CallbackList sees which
        # per-batch hooks are really overridden (and skips batch logs when none is).
        self.__class__ = type("LambdaCallback", (LambdaCallback,), given)


def _forward(fn: Callable[..., Any], n_args: int) -> Callable[..., Any]:
    def hook(self: Callback, *args: Any) -> Any:
        return fn(*args, *(None,) * (n_args - len(args)))  # logs default to None

    return hook
