"""``ProgbarLogger``: the training progress display that ``fit`` adds when ``verbose != 0``.

- ``verbose=1`` on a terminal (or in Jupyter): ``Epoch 3/20`` then a live tqdm bar per epoch
  with steps, ETA and the running loss/metrics, which ends as one line with the epoch's time
  and the validation results. When stdout is not a terminal (a log file, CI) the bar degrades to
  that final line per epoch, so logs are not flooded with carriage returns.
- ``verbose=2``: ``Epoch 3/20`` and one line per epoch.

Line format, as Keras: ``47/47 - 1s - 3ms/step - accuracy: 0.9612 - loss: 0.1234 - val_...``.
Per-step work is a counter increment and a clock read; the bar is redrawn at most ten
times a second.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from fastff.callbacks.base import Callback

__all__ = ["ProgbarLogger", "format_logs"]

_REFRESH_S = 0.1
_BAR = "{n_fmt}/{total_fmt} [{bar:30}] ETA: {remaining}{desc}"  # desc: " - loss: ..."
_BAR_UNKNOWN = "{n_fmt} steps - {elapsed}{desc}"
_BAR_DONE = "{n_fmt}/{total_fmt} [{bar:30}] {desc}"


def _number(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.4e}"


def format_logs(logs: Mapping[str, Any] | None) -> str:
    """``accuracy: 0.9612 - loss: 0.1234 - val_accuracy: ...``: the logs' own order (Keras 3's:
    sorted training keys, then sorted ``val_`` keys), the learning rate last."""
    if not logs:
        return ""
    keys = sorted(logs, key=lambda k: k in ("learning_rate", "lr"))  # stable
    return " - ".join(f"{k}: {_number(logs[k])}" for k in keys)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, s = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _per_step(seconds: float, steps: int) -> str:
    if steps <= 0:
        return ""
    t = seconds / steps
    if t >= 1:
        return f"{t:.0f}s/step"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/step"
    return f"{t * 1e6:.0f}us/step"


def _terminal_size() -> tuple[int, int]:
    """(columns, lines), with (100, 24) for a pty that reports 0x0 (where tqdm would hide
    the bar)."""
    size = shutil.get_terminal_size(fallback=(100, 24))
    return size.columns or 100, size.lines or 24


def _isatty(stream: Any) -> bool:
    """A terminal, or a Jupyter output stream (which renders ``\\r`` updates too)."""
    if type(stream).__name__ == "OutStream" and type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgbarLogger(Callback):
    """Print training progress to stdout (Keras's ``ProgbarLogger``).

    ``verbose`` defaults to the ``verbose`` that ``fit``/``evaluate`` passed in ``params``;
    ``file`` defaults to ``sys.stdout`` at the time training begins. ``dynamic`` forces the
    live bar on (``True``) or off (``False``); by default it is on only for a terminal.
    """

    def __init__(self, verbose: int | None = None, file: TextIO | None = None,
                 dynamic: bool | None = None) -> None:
        super().__init__()
        self._verbose_arg = verbose
        self._file_arg = file
        self._dynamic_arg = dynamic
        self._bar: Any = None
        self._in_fit = False
        self._reset_counters()

    def set_params(self, params: dict[str, Any]) -> None:
        """Take ``verbose``/``steps``/``epochs`` and pick the display.

        Only the live bar reads per-batch logs; the plain display is a class without batch
        hooks, so ``CallbackList`` tells the loop not to build per-batch logs for it.
        """
        super().set_params(params)
        self._configure()
        live = self.verbose == 1 and self.dynamic
        self.__class__ = _LiveProgbarLogger if live else ProgbarLogger

    # ------------------------------------------------------------------ helpers
    def _reset_counters(self) -> None:
        self._seen = 0
        self._drawn = 0
        self._t0 = time.perf_counter()
        self._last = self._t0

    def _configure(self) -> None:
        params = getattr(self, "params", None) or {}
        self.verbose = self._verbose_arg if self._verbose_arg is not None else int(
            params.get("verbose", 1))
        self.file = self._file_arg if self._file_arg is not None else sys.stdout
        self.dynamic = self._dynamic_arg if self._dynamic_arg is not None else _isatty(self.file)
        steps = params.get("steps")
        self.steps = int(steps) if steps else None
        self.epochs = params.get("epochs")

    def _write(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()

    def _open_bar(self) -> None:
        self._reset_counters()
        if self.verbose == 1 and self.dynamic:
            from tqdm import tqdm

            columns, lines = _terminal_size()
            self._bar = tqdm(
                total=self.steps, file=self.file, leave=True, ncols=columns, nrows=lines,
                bar_format=_BAR if self.steps else _BAR_UNKNOWN, mininterval=_REFRESH_S,
                unit="step",
            )

    def _step(self, logs: Mapping[str, Any] | None) -> None:
        self._seen += 1
        bar = self._bar
        if bar is None:
            return
        now = time.perf_counter()
        if now - self._last >= _REFRESH_S or self._seen == self.steps:
            self._last = now
            shown = format_logs(_numeric(logs))
            bar.set_description_str(" - " + shown if shown else "", refresh=False)
            bar.update(self._seen - self._drawn)
            self._drawn = self._seen

    def _finish(self, logs: Mapping[str, Any] | None) -> None:
        elapsed = time.perf_counter() - self._t0
        steps = self._seen or self.steps or 0  # the plain display does not count batches
        parts = [_duration(elapsed), _per_step(elapsed, steps), format_logs(_numeric(logs))]
        tail = " - ".join(p for p in parts if p)
        bar, self._bar = self._bar, None
        if bar is not None:
            # clear the live line, then print the full final line (never cut to the width)
            bar.leave = False
            ascii_bar = bar.ascii
            bar.close()
            if self.steps:
                line = bar.format_meter(steps, self.steps, elapsed, bar_format=_BAR_DONE,
                                        prefix=tail, ascii=ascii_bar)
            else:
                line = f"{steps} steps - {tail}"
            self._write(line)
        elif self.verbose:
            total = self.steps or steps
            self._write(f"{steps}/{total} - {tail}")

    # ------------------------------------------------------------------ fit
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._configure()
        self._in_fit = True

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.verbose:
            self._write(f"Epoch {epoch + 1}/{self.epochs}" if self.epochs else
                        f"Epoch {epoch + 1}")
        self._open_bar()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._finish(logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._bar is not None:  # interrupted mid-epoch: leave the bar where it stopped
            self._bar.close()
            self._bar = None
        self._in_fit = False

    # ------------------------------------------------------------------ evaluate / predict
    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._configure()
            self._open_bar()

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._configure()
        self._open_bar()

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._finish(None)


class _LiveProgbarLogger(ProgbarLogger):
    """``ProgbarLogger`` with the live bar: the only form that needs per-batch hooks."""

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._step(logs)

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._step(logs)

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._step(None)


def _numeric(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop non-scalar entries (e.g. arrays in predict logs) from what is displayed."""
    if not logs:
        return {}
    out = {}
    for k, v in logs.items():
        if isinstance(v, (int, float)) or (hasattr(v, "ndim") and getattr(v, "ndim", 1) == 0):
            out[k] = v
    return out
