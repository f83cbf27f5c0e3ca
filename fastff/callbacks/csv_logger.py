"""``CSVLogger``: append one CSV row of the epoch's logs per epoch (Keras semantics).

Columns are ``epoch`` (0-based, as Keras) and the logs' keys, sorted (with ``append=True``,
those of the existing header first); a value missing in an epoch is written as ``NA``.
As in Keras, a first epoch without ``val_`` keys adds a ``val_`` column for each key (``NA``
until validation runs). When a later epoch brings other new keys, the file is rewritten
with the wider header rather than losing them. Each row is flushed, so the
file is useful while training runs and after a crash.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from fastff import distribution
from fastff._validation import check_bool
from fastff.callbacks.base import Callback

__all__ = ["CSVLogger"]


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return '"[' + ", ".join(str(v) for v in value) + ']"'
    return value


class CSVLogger(Callback):
    """Stream epoch results to ``filename``; ``append=True`` continues an existing file
    (no second header)."""

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"Argument `separator` must be a one-character string; got "
                             f"{separator!r}")
        self.sep = separator
        self.append = check_bool(append, "append")
        self.keys: list[str] | None = None
        self._file: TextIO | None = None
        self._writer: Any = None
        self._header_needed = True

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not distribution.is_chief():  # data parallel: rank 0 writes the file
            return
        exists = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._header_needed = not (self.append and exists)
        self.keys = self._existing_keys() if self.append and exists else None
        self._file = open(self.filename, "a" if self.append else "w", newline="",  # noqa: SIM115
                          encoding="utf-8")
        self._writer = None

    def _existing_keys(self) -> list[str] | None:
        """The columns of the file being appended to (so rows stay aligned with them)."""
        with open(self.filename, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f, delimiter=self.sep), None)
        if not header or header[0] != "epoch":
            return None
        return header[1:]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not distribution.is_chief():
            return
        logs = dict(logs or {})
        if self._file is None:
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(k.startswith("val_") for k in self.keys):
                # as Keras 3: a first epoch without validation still gets val_ columns (NA
                # until a validation pass, e.g. with validation_freq > 1, fills them)
                self.keys += ["val_" + k for k in self.keys]
        elif not set(logs) <= set(self.keys):
            self._widen(sorted(set(logs) - set(self.keys)))
        if self._writer is None:
            fields = ["epoch", *self.keys]
            self._writer = csv.DictWriter(self._file, fieldnames=fields, delimiter=self.sep,
                                          extrasaction="ignore")
            if self._header_needed:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: _cell(logs[k]) if k in logs else "NA" for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def _widen(self, new_keys: list[str]) -> None:
        """Rewrite the file with ``new_keys`` added to the header (``NA`` in older rows)."""
        assert self._file is not None and self.keys is not None
        self._file.close()
        rows: list[dict[str, str]] = []
        if os.path.getsize(self.filename) > 0:
            with open(self.filename, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter=self.sep))
        self.keys = self.keys + new_keys
        fields = ["epoch", *self.keys]
        tmp = self.filename + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields, delimiter=self.sep, restval="NA",
                                    extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.filename)
        self._file = open(self.filename, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.DictWriter(self._file, fieldnames=fields, delimiter=self.sep,
                                      extrasaction="ignore")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None
