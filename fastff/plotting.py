"""Training curves as a PNG: one panel per quantity (loss first), train vs validation.

matplotlib is optional (the ``fastff[plot]`` extra) and imported only here, on call. The
figure is drawn on an Agg canvas directly, without ``pyplot``, so plotting never changes
matplotlib's global backend or state in the caller's application.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plot_history"]


def _as_dict(history: Any) -> tuple[dict[str, list[float]], list[int] | None]:
    if isinstance(history, Mapping):
        return {str(k): list(v) for k, v in history.items()}, None
    data = getattr(history, "history", None)
    if not isinstance(data, Mapping):
        raise TypeError("history must be a History (as returned by fit) or a dict of lists, "
                        f"got {type(history).__name__}")
    epochs = getattr(history, "epoch", None)
    return {str(k): list(v) for k, v in data.items()}, (list(epochs) if epochs else None)


def _x_for(n: int, epochs: Sequence[int]) -> list[float]:
    """Epoch numbers (1-based) for a series of ``n`` values over ``epochs``.

    Validation may run every few epochs (``validation_freq``): spread its points evenly
    so the last one falls on the last epoch.
    """
    if n == len(epochs):
        return [e + 1 for e in epochs]
    step = len(epochs) / n if n else 1
    return [epochs[0] + 1 + (i + 1) * step - 1 for i in range(n)]


def plot_history(history: Any, path: str | os.PathLike[str] | None = None, *,
                 title: str | None = None) -> Any:
    """Write a PNG of ``history`` (a ``History`` or ``{"loss": [...], "val_loss": [...]}``)
    to ``path`` and return the path; with ``path=None`` return the matplotlib ``Figure``.

    Each quantity ``q`` gets one panel with ``q`` and, when present, ``val_q``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError("plot_history needs matplotlib: pip install 'fastff[plot]'") from e

    data, epochs = _as_dict(history)
    names = [k for k in data if not k.startswith("val_") and data[k]]
    names += [k[4:] for k in data if k.startswith("val_") and k[4:] not in data and data[k]]
    names = [n for n in names if n not in ("learning_rate", "lr")]
    names.sort(key=lambda n: (n != "loss", n))
    if not names:
        raise ValueError("history has nothing to plot (no recorded loss or metric)")
    n_epochs = max(len(v) for v in data.values())
    if epochs is None or len(epochs) != n_epochs:
        epochs = list(range(n_epochs))

    cols = min(len(names), 2)
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(5.0 * cols, 3.6 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, label, style in ((name, "train", "-o"), ("val_" + name, "validation", "-s")):
            values = data.get(key)
            if values:
                ax.plot(_x_for(len(values), epochs), [float(v) for v in values], style,
                        label=label, markersize=3, linewidth=1.5)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if path is None:
        return fig
    path = os.fspath(path)
    fig.savefig(path, format="png")
    return path
