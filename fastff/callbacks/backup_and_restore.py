"""``BackupAndRestore``: resume an interrupted ``fit`` where it stopped (Keras 3 semantics).

At the end of every epoch (or every ``save_freq`` batches) the callback saves the model —
weights, optimizer state and fastff's training state (shuffle seed, dropout counters) — to
``backup_dir`` and records how many epochs were complete. When ``fit`` starts with a backup
present, the model gets that state back and training resumes at the recorded epoch (Keras sets
``model._initial_epoch``; here ``fit`` asks the callback before its loop starts). With
``save_freq="epoch"`` a resumed run ends with the same weights, bit for bit, as one that was
never interrupted. A fit that ends normally deletes the backup (``delete_checkpoint``).

Writes are atomic: the model goes to a new checkpoint file (``fastff.saving``: temporary file,
fsync, rename), then ``training_metadata.json``, which names that file, is replaced atomically,
then the previous checkpoint is removed. A crash at any point leaves a metadata file that
names a complete checkpoint of the epoch it records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from fastff._atomic import atomic_write
from fastff._validation import check_bool
from fastff.callbacks.base import Callback

__all__ = ["BackupAndRestore", "resume_epoch"]

_METADATA = "training_metadata.json"


class BackupAndRestore(Callback):
    """Back up the training state to ``backup_dir`` and restore it when ``fit`` restarts.

    ``save_freq``: ``"epoch"`` or a number of batches (a mid-epoch backup resumes at the start
    of that epoch with the weights of the backup, as Keras). ``double_checkpoint``: keep the
    previous backup too and fall back to it when the latest cannot be read.
    ``delete_checkpoint``: remove the backup when ``fit`` completes.
    """

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: str | int = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, int) or save_freq <= 0):
            raise ValueError("Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq!r}. Expected either 'epoch' or a positive "
                             "integer value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = check_bool(double_checkpoint, "double_checkpoint")
        self.delete_checkpoint = check_bool(delete_checkpoint, "delete_checkpoint")
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch = 0
        self._saves = 0

    # ---- files ---------------------------------------------------------------------
    def _path(self, name: str) -> str:
        return os.path.join(self.backup_dir, name)

    def _read_metadata(self) -> dict | None:
        try:
            with open(self._path(_METADATA), encoding="utf-8") as f:
                meta = json.load(f)
        except FileNotFoundError:
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("epoch"), int) \
                or not isinstance(meta.get("checkpoint"), str):
            raise ValueError(f"BackupAndRestore: {self._path(_METADATA)} is not a backup "
                             "written by fastff")
        return meta

    def _save(self) -> None:
        from fastff import saving

        os.makedirs(self.backup_dir, exist_ok=True)
        old = self._read_metadata()
        self._saves += 1
        name = f"checkpoint-{self._current_epoch}-{self._saves}.fastff"
        saving.save_model(self.model, self._path(name))
        double = bool(old) and self.double_checkpoint
        meta = {"epoch": self._current_epoch, "batch": self._last_batch, "checkpoint": name,
                "previous": old["checkpoint"] if double else None,
                "previous_epoch": old["epoch"] if double else None}
        data = json.dumps(meta).encode("utf-8")
        atomic_write(self._path(_METADATA), lambda f: f.write(data))
        keep = {name, meta["previous"]}
        for entry in (old or {}).get("checkpoint"), (old or {}).get("previous"):
            if entry and entry not in keep:
                try:
                    os.remove(self._path(entry))
                except FileNotFoundError:
                    pass

    def restore(self, model: Any) -> int:
        """Give ``model`` the backed-up state; returns the epoch to resume at (0: none)."""
        from fastff import saving

        meta = self._read_metadata()
        if meta is None:
            return 0
        names = [meta["checkpoint"]] + ([meta["previous"]] if meta.get("previous") else [])
        error: Exception | None = None
        for i, name in enumerate(names):
            try:
                header, arrays = saving.read_file(self._path(name))
                saving.load_weights(model, self._path(name))
            except (OSError, ValueError) as e:  # a damaged latest: the previous one
                error = e
                continue
            if model.optimizer is not None:
                saving._restore_optimizer(self._path(name), model, header,
                                          arrays.get("optimizer", []))
            state = header.get("training_state")
            if isinstance(state, dict):
                model.set_training_state(state)
            epoch = int(meta["epoch"] if i == 0 else meta["previous_epoch"])
            self._current_epoch = epoch
            return epoch
        raise ValueError(f"BackupAndRestore: no readable backup in {self.backup_dir}: "
                         f"{error}") from error

    def _delete(self) -> None:
        meta = None
        try:
            meta = self._read_metadata()
        except ValueError:
            return
        for name in ((meta or {}).get("checkpoint"), (meta or {}).get("previous"), _METADATA):
            if name:
                try:
                    os.remove(self._path(name))
                except FileNotFoundError:
                    pass
        try:
            os.rmdir(self.backup_dir)  # only when nothing else lives there
        except OSError:
            pass

    # ---- hooks ---------------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        added = batch + 1 if batch <= self._last_batch else batch - self._last_batch
        self._batches_since_save += added
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._current_epoch = epoch + 1
        self._last_batch = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.delete_checkpoint:
            self._delete()


def resume_epoch(model: Any, callbacks: Any, initial_epoch: int) -> int:
    """The epoch ``fit`` starts at: ``initial_epoch``, or later when a ``BackupAndRestore``
    among ``callbacks`` restored a backup into ``model``."""
    cbs = getattr(callbacks, "callbacks", callbacks) or []
    if isinstance(cbs, Callback):
        cbs = [cbs]
    out = initial_epoch
    if isinstance(out, bool) or not isinstance(out, int):
        return out  # fit names the bad argument
    for cb in cbs:
        if isinstance(cb, BackupAndRestore):
            epoch = cb.restore(model)
            if epoch > out:
                out = epoch
    return out
