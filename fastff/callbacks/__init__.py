"""Callbacks with Keras's names. ``Callback`` and ``History`` live in ``base``, ``CallbackList``
in ``callback_list``; the others are one module each and load on first use (PEP 562)."""

from __future__ import annotations

import importlib
from typing import Any

from fastff.callbacks.base import Callback, History
from fastff.callbacks.callback_list import CallbackList

_LAZY = {
    "ProgbarLogger": "progbar",
    "EarlyStopping": "early_stopping",
    "ModelCheckpoint": "model_checkpoint",
    "ReduceLROnPlateau": "reduce_lr",
    "LearningRateScheduler": "lr_scheduler",
    "TerminateOnNaN": "terminate_on_nan",
    "CSVLogger": "csv_logger",
    "LambdaCallback": "lambda_callback",
    "TensorBoard": "tensorboard",
}

__all__ = ["Callback", "CallbackList", "History", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"fastff.callbacks.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastff.callbacks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
