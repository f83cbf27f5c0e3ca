"""Training: one loop (``loop``) over batch sources (``data``, ``fastff.data_adapters``) and two
step engines, the general one (``general``: layer closures through ``ops``) and the compiled one
(``compiled``: whole steps/epochs of a plain Dense stack as one compiled call). The names below
load on first use, so importing a submodule (e.g. ``compiled``) does not load the loop."""

from __future__ import annotations

from typing import Any

__all__ = ["fit", "evaluate", "predict", "forward", "forward_backward", "train_on_batch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fastff.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'fastff.training' has no attribute {name!r}")
