"""``TensorBoard``: the epoch (and optionally batch) logs as TensorBoard scalars, as Keras 3.

Keras's layout: ``<log_dir>/train`` gets ``epoch_<name>`` for each training log (plus
``epoch_learning_rate``, and ``epoch_steps_per_second`` with ``write_steps_per_second``)
and ``<log_dir>/validation`` gets ``epoch_<name>`` for each ``val_<name>``, at step = epoch;
with ``update_freq="batch"`` or an integer N, ``batch_<name>`` every N training steps (step =
the global batch count); a standalone ``evaluate`` with the callback writes
``evaluation_<name>_vs_iterations`` at step = the optimizer's iterations; ``histogram_freq=N``
writes a histogram of every weight every N epochs (tag ``<layer>/<weight>/histogram``). The
files are written without TensorFlow (``fastff.callbacks._event_file``). Not available:
``write_graph`` (Keras: not supported either), ``write_images``, profiling and embeddings.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastff import distribution
from fastff.callbacks._event_file import EventFileWriter
from fastff.callbacks.base import Callback

__all__ = ["TensorBoard"]


def _scalars(logs: dict | None) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):  # array-valued metrics (e.g. F1 per class): skipped
            continue
    return out


class TensorBoard(Callback):
    """Write logs for TensorBoard (``tensorboard --logdir <log_dir>``)."""

    def __init__(self, log_dir: str | os.PathLike[str] = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq: Any = "epoch",
                 profile_batch: Any = 0, embeddings_freq: int = 0,
                 embeddings_metadata: Any = None) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) \
                or histogram_freq < 0:
            raise ValueError(f"histogram_freq: expected an integer >= 0, got {histogram_freq!r}")
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        if write_images:
            raise NotImplementedError("TensorBoard(write_images=True) is not supported by "
                                      "fastff; use histogram_freq for weight histograms")
        self.write_images = False
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool)
                                       or not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"update_freq: expected 'epoch', 'batch' or an integer >= 1, got "
                             f"{update_freq!r}")
        self.update_freq = update_freq
        if profile_batch:
            raise ValueError("Profiling is not available in fastff (as with Keras's torch "
                             f"backend). Received: profile_batch={profile_batch!r} (must be 0)")
        if embeddings_freq:
            raise NotImplementedError("TensorBoard(embeddings_freq=...) is not supported by "
                                      "fastff")
        self.embeddings_freq = 0
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict[str, EventFileWriter] = {}
        self._global_train_batch = 0
        self._epoch_start = 0.0
        self._epoch_steps = 0

    def _writer(self, which: str) -> EventFileWriter:
        w = self._writers.get(which)
        if w is None:
            w = self._writers[which] = EventFileWriter(os.path.join(self.log_dir, which))
        return w

    def _learning_rate(self) -> float | None:
        opt = getattr(self.model, "optimizer", None)
        if opt is None:
            return None
        try:
            return float(opt.learning_rate)
        except (TypeError, ValueError, AttributeError):
            return None

    # ---- fit --------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._global_train_batch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._global_train_batch += 1
        self._epoch_steps += 1
        if self.update_freq == "epoch" or not distribution.is_chief():
            return
        if self._global_train_batch % self.update_freq == 0:
            w = self._writer("train")
            for name, value in _scalars(logs).items():
                w.scalar(f"batch_{name}", value, self._global_train_batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not distribution.is_chief():  # data parallel: rank 0 writes the files
            return
        values = _scalars(logs)
        train = {k: v for k, v in values.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in values.items() if k.startswith("val_")}
        lr = self._learning_rate()
        if lr is not None:
            train["learning_rate"] = lr
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            train["steps_per_second"] = self._epoch_steps / elapsed if elapsed > 0 else 0.0
        for name, value in train.items():
            self._writer("train").scalar(f"epoch_{name}", value, epoch)
        for name, value in val.items():
            self._writer("validation").scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_weights(self, epoch: int) -> None:
        w = self._writer("train")
        for layer in getattr(self.model, "layers", []):
            for p in getattr(layer, "weights", []):
                w.histogram(f"{layer.name}/{p.name}/histogram", p.numpy(), epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close()

    # ---- evaluate ---------------------------------------------------------------------------
    def on_test_end(self, logs: dict | None = None) -> None:
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not distribution.is_chief():
            return
        step = int(getattr(opt, "iterations", 0))
        w = self._writer("validation")
        for name, value in _scalars(logs).items():
            w.scalar(f"evaluation_{name}_vs_iterations", value, step)
        w.close()

    def _close(self) -> None:
        for w in self._writers.values():
            w.close()
