"""``model.summary()``: a table of layers, output shapes and parameter counts, Keras's layout.

Keras 3 draws the table with ``rich``; fastff prints the same columns in plain text so the
output is the same in a terminal, a log file and a test::

    Model: "sequential"
    ______________________________________________________________________
     Layer (type)                    Output Shape                  Param #
    ======================================================================
     dense (Dense)                   (None, 32)                      2,080
     dense_1 (Dense)                 (None, 10)                        330
    ======================================================================
     Total params: 2,410 (9.41 KB)
     Trainable params: 2,410 (9.41 KB)
     Non-trainable params: 0 (0.00 B)
    ______________________________________________________________________
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["format_bytes", "shape_str", "summary"]

DEFAULT_LINE_LENGTH = 70
_MIN_LINE_LENGTH = 40


def format_bytes(n: int) -> str:
    """Human size with 1024 steps: ``0.00 B``, ``9.41 KB``, ``1.02 MB``."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024.0 or unit == "GB":
            return f"{value:.2f} {unit}"
        value /= 1024.0
    raise AssertionError("unreachable")


def shape_str(shape: Any) -> str:
    """``(None, d1, ...)`` of a per-sample shape, ``?`` when it is not known; a list of
    them (a layer of several outputs) as ``[(None, ...), ...]``."""
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(shape_str(s) for s in shape) + "]"
    dims = ", ".join("None" if d is None else str(d) for d in (None, *tuple(shape)))
    return f"({dims})"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _layer_rows(model: Any) -> list[tuple[str, str, str, str]]:
    rows = []
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        shape = tuple(d for d in shape)
        if len(shape) and shape[0] is None:  # a batch axis given by the model
            shape = shape[1:]
    for layer in model.layers:
        out = None
        if shape is not None:
            try:
                out = tuple(layer.compute_output_shape(shape))
            except Exception:  # a layer that cannot tell: show "?"
                out = None
        built = getattr(layer, "built", True)
        count = f"{layer.count_params():,}" if built else "0 (unbuilt)"
        rows.append((layer.name, getattr(layer, "type_name", type(layer).__name__), shape_str(out),
                     count))
        shape = out
    return rows


def _param_totals(model: Any) -> tuple[int, int, int, int]:
    """(trainable count, trainable bytes, non-trainable count, non-trainable bytes)."""
    tc = tb = nc = nb = 0
    train = getattr(model, "trainable_weights", None)
    frozen = getattr(model, "non_trainable_weights", None)
    if train is not None and frozen is not None:  # the model's own split (nested models too)
        for group, is_train in ((train, True), (frozen, False)):
            for p in group:
                n, b = p.value.size, p.value.size * p.value.dtype.itemsize
                if is_train:
                    tc, tb = tc + n, tb + b
                else:
                    nc, nb = nc + n, nb + b
        return tc, tb, nc, nb
    model_trainable = getattr(model, "trainable", True)
    for layer in model.layers:
        for p in getattr(layer, "params", []):
            value = p.value
            if p.trainable and getattr(layer, "trainable", True) and model_trainable:
                tc += value.size
                tb += value.size * value.dtype.itemsize
            else:
                nc += value.size
                nb += value.size * value.dtype.itemsize
    return tc, tb, nc, nb


def summary(
    model: Any,
    print_fn: Callable[[str], Any] | None = None,
    line_length: int | None = None,
) -> None:
    """Print ``model``'s summary, one line per ``print_fn`` call (default ``print``).

    Columns: ``Layer (type)``, ``Output Shape`` (``(None, ...)``, with ``?`` where the
    model is not built), ``Param #``; then total, trainable and non-trainable parameter
    counts with their size in memory.
    """
    if print_fn is None:
        print_fn = print
    width = max(int(line_length or DEFAULT_LINE_LENGTH), _MIN_LINE_LENGTH)
    # column widths: name 46%, shape 32%, params the rest (right-aligned)
    w_name = int(width * 0.46)
    w_shape = int(width * 0.32)
    w_params = width - w_name - w_shape - 1  # one leading space

    def row(a: str, b: str, c: str) -> str:
        line = " " + _fit(a, w_name - 1).ljust(w_name) + _fit(b, w_shape - 1).ljust(w_shape)
        return (line + c.rjust(w_params)).rstrip()

    print_fn(f'Model: "{getattr(model, "name", type(model).__name__)}"')
    print_fn("_" * width)
    print_fn(row("Layer (type)", "Output Shape", "Param #"))
    print_fn("=" * width)
    rows = model.summary_rows() if hasattr(model, "summary_rows") else _layer_rows(model)
    for name, kind, shape, count in rows:
        kind = f" ({kind})"
        # a long name is cut, its type always shown
        print_fn(row(_fit(name, max(w_name - 1 - len(kind), 4)) + kind, shape, count))
    print_fn("=" * width)
    tc, tb, nc, nb = _param_totals(model)
    print_fn(f" Total params: {tc + nc:,} ({format_bytes(tb + nb)})")
    print_fn(f" Trainable params: {tc:,} ({format_bytes(tb)})")
    print_fn(f" Non-trainable params: {nc:,} ({format_bytes(nb)})")
    print_fn("_" * width)
