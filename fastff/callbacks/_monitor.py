"""Shared by the callbacks that watch a logged quantity: which direction is better."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from typing import Any

from fastff import distribution

logger = logging.getLogger("fastff.callbacks")

# quantities where larger is better, matched on the name without a ``val_`` prefix
_MAXIMIZE = ("acc", "accuracy", "auc", "precision", "recall", "f1", "f1_score", "r2",
             "r2_score", "top_k_categorical_accuracy")


def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"`` for ``mode`` in {auto, min, max}; auto guesses from the name."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    base = monitor[4:] if monitor.startswith("val_") else monitor
    if "loss" in base or "error" in base:
        return "min"
    if base in _MAXIMIZE or base.endswith(("accuracy", "_acc", "auc")):
        return "max"
    return "min"


def initial_best(mode: str) -> float:
    return math.inf if mode == "min" else -math.inf


def is_improvement(mode: str, current: float, reference: float, min_delta: float) -> bool:
    """True when ``current`` beats ``reference`` by more than ``min_delta`` (>= 0)."""
    if mode == "min":
        return current < reference - min_delta
    return current > reference + min_delta


def monitor_value(owner: str, monitor: str, logs: Mapping[str, Any] | None) -> float | None:
    """``logs[monitor]`` as a float, or ``None`` with a warning naming what is available."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        logger.warning("%s: monitored quantity %r is not in the logs (available: %s); "
                       "skipping", owner, monitor, ", ".join(sorted(logs)) or "none")
        return None
    return float(value)


def say(message: str) -> None:
    """Print a callback's message on stdout without breaking a live progress bar (on rank 0
    only under a data-parallel distribution)."""
    if not distribution.is_chief():
        return
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is not None:  # a bar may be on screen: tqdm clears and redraws it
        tqdm_module.tqdm.write(message, file=sys.stdout)
    else:
        print(message)
